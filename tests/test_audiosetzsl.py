import tarfile
from pathlib import Path

import numpy as np
import pytest

from avgzsl.datasets.audiosetzsl import (
    SPLIT_LISTS_DIGEST,
    AudioSetZSLConfig,
    SplitListError,
    build_manifest,
    fetch_split_lists,
    list_files,
    load_audiosetzsl,
    read_class_table,
)
from avgzsl.datasets.custom import CustomConfig, ManifestError, load_custom, read_class_list
from avgzsl.formats.manifest import ClassTable, validate_manifest

# shared/ sits beside the repository (CI lays a copy there)
SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "audiosetzsl"
needs_lists = pytest.mark.skipif(not SHARED.is_dir(), reason="AudioSetZSL split lists not present")
UNSEEN = {"pig", "panther", "stream", "bus", "aircraft", "clock", "fan", "printer", "church-bell", "gunshot"}


@pytest.fixture(scope="module")
def official():
    return load_audiosetzsl(AudioSetZSLConfig(split_dir=str(SHARED)))


@needs_lists
def test_official_counts(official):
    manifest, classes = official
    assert len(manifest) == 156_416
    assert manifest["youtube_id"].nunique() == 156_416
    assert manifest["split"].value_counts().to_dict() == {"trn": 93_865, "val": 31_271, "tst": 31_280}
    assert len(classes.names) == 33 and int(classes.seen.sum()) == 23
    assert set(classes.unseen_names) == UNSEEN
    unseen = manifest["class"].isin(UNSEEN)
    counts = manifest[unseen].groupby("split").size().to_dict()
    assert counts == {"trn": 14_070, "val": 4_684, "tst": 4_687}
    # seen = total - unseen: every class the split lists do not name as unseen
    assert manifest[~unseen].groupby("split").size().to_dict() == {"trn": 79_795, "val": 26_587, "tst": 26_593}
    assert ((manifest["end"] - manifest["start"]) < 10).sum() == 2_025
    assert manifest.groupby("class").size()["car"] == 22_989 + 7_663 + 7_663
    validate_manifest(manifest, classes=classes)


@needs_lists
def test_clip_id_is_youtube_id_and_start_ms(official):
    manifest, _ = official
    row = manifest[manifest["youtube_id"] == "ORcNIwMK0gw"].iloc[0]
    assert row["clip_id"] == "ORcNIwMK0gw_33800"
    assert (row["start"], row["end"]) == (33.8, 43.8)
    assert manifest["clip_id"].is_unique


def _fake_lists(root: Path, lines: dict[str, str]) -> Path:
    (root / "class-split").mkdir(parents=True)
    (root / "class-split" / "all_class.txt").write_text("'dog',\n'pig'")
    (root / "class-split" / "unseen_class.txt").write_text("'pig'")
    for split in ("trn", "val", "tst"):
        folder = root / "youtube-id" / split
        folder.mkdir(parents=True)
        for name in ("dog", "pig"):
            default = f"1, {name}{split}AAAA, 0.000, 10.000, /m/x\n"
            (folder / f"{name}.txt").write_text(lines.get(f"{split}/{name}", default))
    return root


def test_malformed_line_names_file_and_line(tmp_path):
    root = _fake_lists(tmp_path, {"val/pig": "1, abcdefghijk, 0.0, 10.0, /m/x\n2, zzz, ten, 20.0\n"})
    with pytest.raises(SplitListError, match=r"val/pig\.txt:2: bad start/end"):
        build_manifest(root)


def test_duplicate_segment_rejected(tmp_path):
    same = "1, sameid_____, 5.0, 15.0, /m/x\n"
    root = _fake_lists(tmp_path, {"tst/dog": same, "trn/pig": same})
    with pytest.raises(SplitListError, match="share a clip id"):
        build_manifest(root)


def test_missing_class_list_file(tmp_path):
    root = _fake_lists(tmp_path, {})
    (root / "youtube-id" / "val" / "dog.txt").unlink()
    with pytest.raises(SplitListError, match="no list for class"):
        build_manifest(root)
    assert read_class_table(root).unseen_names == ["pig"]


def test_local_folder_checked_against_pinned_digest(tmp_path):
    root = _fake_lists(tmp_path, {})
    with pytest.raises(SplitListError, match="digest"):
        load_audiosetzsl(AudioSetZSLConfig(split_dir=str(root)))
    manifest, _ = load_audiosetzsl(AudioSetZSLConfig(split_dir=str(root), digest=None))
    assert len(manifest) == 6


@needs_lists
def test_fetch_from_archive_url(tmp_path):
    archive = tmp_path / "lists.tar"
    with tarfile.open(archive, "w") as tar:
        for rel in list_files(SHARED):
            tar.add(SHARED / rel, arcname=f"AudioSetZSL-abc/{rel}")
        tar.add(SHARED / "SOURCE", arcname="AudioSetZSL-abc/README.md")
    url = archive.as_uri()
    with pytest.raises(SplitListError, match="digest"):
        fetch_split_lists(tmp_path / "bad", commit="abc", digest="0" * 64, url=url)
    assert not (tmp_path / "bad" / "abc").exists()
    dest = fetch_split_lists(tmp_path / "cache", commit="abc", digest=SPLIT_LISTS_DIGEST, url=url)
    assert dest == tmp_path / "cache" / "abc"
    assert not (dest / "README.md").exists()
    assert len(build_manifest(dest)) == 156_416
    # cached: a second call does not download (the URL is gone)
    archive.unlink()
    assert fetch_split_lists(tmp_path / "cache", commit="abc", url=url) == dest


def test_fetch_offline_error_is_clear(tmp_path):
    with pytest.raises(SplitListError, match="Offline"):
        fetch_split_lists(tmp_path, commit="abc", url=(tmp_path / "nowhere.tar.gz").as_uri())


# --- custom manifests (avgzsl.datasets.custom) -------------------------------------------


def _custom(tmp_path: Path, csv: str, *, classes="dog\ncat\n# a comment\nchurch-bell\n", unseen="'church-bell'"):
    (tmp_path / "clips").mkdir(exist_ok=True)
    for name in ("a.mp4", "b.mp4"):
        (tmp_path / "clips" / name).write_bytes(b"\0")
    (tmp_path / "manifest.csv").write_text(csv)
    (tmp_path / "all.txt").write_text(classes)
    (tmp_path / "unseen.txt").write_text(unseen)
    return CustomConfig(
        manifest=str(tmp_path / "manifest.csv"),
        classes=str(tmp_path / "all.txt"),
        unseen=str(tmp_path / "unseen.txt"),
    )


def test_custom_manifest_valid(tmp_path):
    csv = (
        "class,split,path,youtube_id,start,end\n"
        "dog,trn,clips/a.mp4,,,\n"
        "cat,trn,clips/b.mp4,,1.5,4\n"
        "church-bell,tst,,abcdefghijk,30.25,40.25\n"
        "church-bell,tst,,ABCDEFGHIJK,,\n"
    )
    manifest, classes = load_custom(_custom(tmp_path, csv))
    assert classes.names == ["dog", "cat", "church-bell"] and classes.unseen_names == ["church-bell"]
    assert list(manifest["clip_id"]) == ["a", "b", "abcdefghijk_30250", "ABCDEFGHIJK"]
    assert list(manifest.columns[:3]) == ["clip_id", "class", "split"]
    assert manifest.loc[0, "path"] == str((tmp_path / "clips" / "a.mp4").resolve())
    assert manifest.loc[1, "start"] == 1.5 and np.isnan(manifest.loc[0, "end"])
    validate_manifest(manifest, classes=classes)


def test_custom_manifest_errors_name_row_and_column(tmp_path):
    csv = (
        "clip_id,class,split,path\n"
        "x1,dog,trn,clips/a.mp4\n"
        "x2,dgo,trn,clips/b.mp4\n"
        "x3,cat,train,clips/b.mp4\n"
        "x4,cat,val,clips/missing.mp4\n"
        "x1,cat,tst,clips/b.mp4\n"
    )
    with pytest.raises(ManifestError) as err:
        load_custom(_custom(tmp_path, csv))
    problems = err.value.problems
    assert len(problems) == 4
    assert problems[0].startswith("row 2 (line 3) column 'class': 'dgo' is not in the class list")
    assert problems[1].startswith("row 3 (line 4) column 'split': 'train'")
    assert "row 4 (line 5) column 'path': file not found" in problems[2] and "missing.mp4" in problems[2]
    assert problems[3] == "row 5 (line 6) column 'clip_id': duplicate id 'x1', first in row 1"


def test_custom_manifest_derived_duplicates_and_columns(tmp_path):
    cfg = _custom(tmp_path, "class,split,path\ndog,trn,clips/a.mp4\ncat,trn,clips/../clips/a.mp4\n")
    with pytest.raises(ManifestError, match="add a clip_id column"):
        load_custom(cfg)
    cfg = _custom(tmp_path, "class,split\ndog,trn\n")
    with pytest.raises(ManifestError, match="missing column.*path or youtube_id"):
        load_custom(cfg)
    cfg = _custom(tmp_path, "class,split,youtube_id,start,end\ndog,trn,short,5,2\n")
    with pytest.raises(ManifestError) as err:
        load_custom(cfg)
    assert any("is not a YouTube id" in p for p in err.value.problems)
    assert any("end 2.0 is not after start 5.0" in p for p in err.value.problems)


def test_class_lists(tmp_path):
    cfg = _custom(tmp_path, "class,split,path\ndog,trn,clips/a.mp4\n", unseen="'zebra',")
    with pytest.raises(ManifestError, match="zebra"):
        load_custom(cfg)
    table = tmp_path / "classes.tsv"
    ClassTable.from_lists(["dog", "cat"], ["cat"]).write(table)
    cfg = CustomConfig(manifest=cfg.manifest, classes=str(table))
    manifest, classes = load_custom(cfg)
    assert classes.unseen_names == ["cat"] and len(manifest) == 1
    (tmp_path / "dups.txt").write_text("dog\ncat\ndog\n")
    with pytest.raises(ManifestError, match="line 3: class 'dog' listed twice"):
        read_class_list(tmp_path / "dups.txt")
