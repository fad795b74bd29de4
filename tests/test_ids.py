"""Ids that become file names or command arguments are refused where they enter, naming file and row."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from avgzsl.datasets.custom import CustomConfig, ManifestError, load_custom
from avgzsl.datasets.download import DownloadConfig, build_command, download_shard
from avgzsl.datasets.released import import_released
from avgzsl.formats.ids import (
    MAX_CLIP_ID,
    UnsafeIdError,
    check_class_name,
    check_clip_id,
    check_youtube_id,
    clip_id_from_video_url,
)

TRAVERSAL_CLIP_IDS = [
    "../../somewhere/x",
    "..",
    "a/../../b",
    "sub/clip",
    "back\\slash",
    ".hidden",
    "a..b",
    "/etc/passwd",
    "",
    "x" * (MAX_CLIP_ID + 1),
    "new\nline",
    "nul\0byte",
    "tab\there",
    " leading",
    "trailing ",
    "$(touch pwned)",
    "semi;colon",
    "ünïcode",
]
GOOD_CLIP_IDS = ["a", "-abcDEF_123", "_x_30250", "v_Archery_g01_c01", "clip 7.take+2", "x" * MAX_CLIP_ID]
BAD_YOUTUBE_IDS = ["short", "abcdefghijkl", "abc/efghijk", "../efghijk", "abcdefghij ", "--exec=rm", "abcdefghij;",
                   "ab$defghijk", ""]
GOOD_YOUTUBE_IDS = ["abcdefghijk", "-abcDEF_123", "___________"]
BAD_CLASS_NAMES = ["../x", "a/b", "a\\b", ".", "..", ".hidden", "", " dog", "dog ", "tab\tname", "x" * 201]
GOOD_CLASS_NAMES = ["dog", "church-bell", "playing oboe", "vehicle horn, car horn, honking", "Hurling (sport)"]


@pytest.mark.parametrize("value", TRAVERSAL_CLIP_IDS)
def test_unsafe_clip_ids_are_refused_naming_where(value):
    with pytest.raises(UnsafeIdError, match=r"^manifest.csv row 3: (clip id|clip id .* is)"):
        check_clip_id(value, "manifest.csv row 3")


@pytest.mark.parametrize("value", GOOD_CLIP_IDS)
def test_safe_clip_ids_pass_and_stay_one_file_name(value, tmp_path):
    assert check_clip_id(value) == value
    assert (tmp_path / f"{value}.mp4").parent == tmp_path


@pytest.mark.parametrize("value", BAD_YOUTUBE_IDS)
def test_malformed_youtube_ids_are_refused(value):
    with pytest.raises(UnsafeIdError, match="is not a YouTube id"):
        check_youtube_id(value, "row 1")


@pytest.mark.parametrize("value", GOOD_YOUTUBE_IDS)
def test_youtube_ids_pass(value):
    assert check_youtube_id(value) == value


@pytest.mark.parametrize("value", BAD_CLASS_NAMES)
def test_unsafe_class_names_are_refused(value):
    with pytest.raises(UnsafeIdError, match="class name"):
        check_class_name(value, "classes.txt")


@pytest.mark.parametrize("value", GOOD_CLASS_NAMES)
def test_class_names_with_spaces_and_commas_pass(value):
    assert check_class_name(value) == value


# --- where the ids enter ------------------------------------------------------------------------


def _manifest(tmp_path: Path, header: str, row: str) -> CustomConfig:
    (tmp_path / "clips").mkdir(exist_ok=True)
    (tmp_path / "clips" / "a.mp4").write_bytes(b"\0")
    (tmp_path / "m.csv").write_text(f"{header}\ndog,trn,clips/a.mp4\n{row}\n")
    (tmp_path / "classes.tsv").write_text("name\tseen\ndog\t1\ncat\t0\n")
    return CustomConfig(manifest=str(tmp_path / "m.csv"), classes=str(tmp_path / "classes.tsv"), check_files=False)


@pytest.mark.parametrize(
    "header, row, column",
    [
        ("class,split,path,clip_id", "cat,tst,clips/a.mp4,../../somewhere/x", "clip_id"),
        ("class,split,path,clip_id", "cat,tst,clips/a.mp4,sub/x", "clip_id"),
        ("class,split,path,clip_id", "cat,tst,clips/a.mp4,..", "clip_id"),
        ("class,split,youtube_id,clip_id", "cat,tst,abcdefghijk,.hidden", "clip_id"),
        ("class,split,youtube_id", "cat,tst,../../../etc", "youtube_id"),
        ("class,split,youtube_id", "cat,tst,--exec=touch", "youtube_id"),
        ("class,split,youtube_id,start,end", "cat,tst,abc def ghi,1,2", "youtube_id"),
        ("class,split,path", "cat,tst,clips/..hidden.mp4", "path"),  # the id derived from the file name
    ],
)
def test_manifest_with_unsafe_ids_is_refused_naming_the_row(tmp_path, header, row, column):
    with pytest.raises(ManifestError) as err:
        load_custom(_manifest(tmp_path, header, row))
    assert any(p.startswith(f"row 2 (line 3) column '{column}'") for p in err.value.problems), err.value.problems


def test_class_list_with_a_traversal_name_is_refused(tmp_path):
    cfg = _manifest(tmp_path, "class,split,path", "dog,tst,clips/a.mp4")
    Path(cfg.classes).write_text("name\tseen\ndog\t1\n../cat\t0\n")
    with pytest.raises(ManifestError, match=r"(?s)classes.tsv: .*class name '../cat'"):
        load_custom(cfg)


FAKE_DOWNLOADER = """
import pathlib, shutil, sys
pathlib.Path(sys.argv[1]).open("a").write(" ".join(sys.argv[2:]) + "\\n")
shutil.copy(sys.argv[2], sys.argv[3])
"""


@pytest.mark.parametrize(
    "clip_id, youtube_id",
    [("../escaped", "abcdefghijk"), ("ok", "../../x/abcd"), ("ok", "-o/tmp/evil"), (".part", "abcdefghijk")],
)
def test_download_refuses_bad_ids_before_running_anything(tmp_path, clip_id, youtube_id):
    script, calls, source = tmp_path / "dl.py", tmp_path / "calls.log", tmp_path / "src.mp4"
    script.write_text(FAKE_DOWNLOADER)
    source.write_bytes(b"media")
    command = " ".join(shlex.quote(str(p)) for p in (sys.executable, script, calls, source)) + " {out} -- {youtube_id}"
    rows = pd.DataFrame({"clip_id": ["fine", clip_id], "youtube_id": ["abcdefghijk", youtube_id],
                         "start": [0.0, 0.0], "end": [1.0, 1.0]})
    media = tmp_path / "run" / "media"
    with pytest.raises(UnsafeIdError, match="row 2: "):
        download_shard(rows, media, DownloadConfig(command=command, attempts=1))
    assert not calls.exists()  # not even the good row ran: the shard is refused as a whole
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["dl.py", "src.mp4"]
    with pytest.raises(UnsafeIdError):
        build_command(DownloadConfig(command=command), youtube_id=youtube_id, clip_id=clip_id, start=0, end=1,
                      out=media / "x.mp4")


def _released(root: Path, *, clip_ids=("a_1", "b_2"), class_names=("dog", "cat")) -> Path:
    (root / "text").mkdir(parents=True)
    np.save(root / "text" / "word_embeddings-dict.npy", {n: np.ones(4, np.float32) for n in class_names})
    (root / "audio" / "trn").mkdir(parents=True)
    with h5py.File(root / "audio" / "trn" / "dog.h5", "w") as f:
        f.create_dataset("data", data=np.ones((len(clip_ids), 3), np.float32))
        f.create_dataset("video_urls", data=np.array(list(clip_ids), dtype=object), dtype=h5py.string_dtype())
    return root


@pytest.mark.parametrize(
    "clip_ids, class_names, message",
    [
        (("a_1", "../../outside"), ("dog", "cat"), r"audio/trn/dog.h5 video_urls row 1: clip id '../../outside'"),
        (("a_1", "x/y"), ("dog", "cat"), r"dog.h5 video_urls row 1: clip id 'x/y'"),
        (("a_1",), ("dog", "../cat"), r"word_embeddings-dict.npy: class name '../cat'"),
    ],
)
def test_import_refuses_unsafe_ids_naming_the_file(tmp_path, clip_ids, class_names, message):
    root = _released(tmp_path / "released", clip_ids=clip_ids, class_names=class_names)
    with pytest.raises(UnsafeIdError, match=message):
        import_released(root, tmp_path / "out", unseen=["cat"] if "cat" in class_names else [])
    written = list((tmp_path / "out").rglob("*")) if (tmp_path / "out").exists() else []
    assert not [p for p in written if p.is_file()]


@pytest.mark.parametrize("url, clip_id", [
    ("https://www.youtube.com/watch?v=-abcDEF_123", "-abcDEF_123"),
    ("https://www.youtube.com/watch?v=-abcDEF_123&t=30s", "-abcDEF_123"),
    ("http://youtube.com/watch?feature=share&v=-abcDEF_123", "-abcDEF_123"),
    ("youtu.be/-abcDEF_123", "-abcDEF_123"),
    ("https://www.youtube.com/embed/-abcDEF_123?start=30", "-abcDEF_123"),
    ("-abcDEF_123_30000_40000", "-abcDEF_123_30000_40000"),  # not a link: kept, then checked as a clip id
    ("https://www.youtube.com/watch?v=-abcDEF_1234", "https://www.youtube.com/watch?v=-abcDEF_1234"),  # 12 chars
    ("https://example.org/watch?v=-abcDEF_123", "https://example.org/watch?v=-abcDEF_123"),
])
def test_clip_id_from_video_url(url, clip_id):
    assert clip_id_from_video_url(url) == clip_id


def test_released_youtube_links_become_their_video_ids(tmp_path):
    """A release whose `video_urls` hold YouTube links imports with the videos' ids as clip ids; any other link
    is refused as a clip id, naming the file and row."""
    root = _released(tmp_path / "released", clip_ids=("https://www.youtube.com/watch?v=-abcDEF_123",
                                                      "https://youtu.be/Zz9_yy8-XX1?t=12"))
    import_released(root, tmp_path / "out", unseen=["cat"])
    assert list(pd.read_csv(tmp_path / "out" / "manifest.csv")["clip_id"]) == ["-abcDEF_123", "Zz9_yy8-XX1"]
    root = _released(tmp_path / "other", clip_ids=("a_1", "https://example.org/clip/1"))
    with pytest.raises(UnsafeIdError, match=r"dog.h5 video_urls row 1: clip id 'https://example.org/clip/1'"):
        import_released(root, tmp_path / "out2", unseen=["cat"])
