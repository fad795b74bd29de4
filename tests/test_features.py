"""Feature shards: round trip, refusal of bad features, split assembly with missing modalities."""

import h5py
import numpy as np
import pandas as pd
import pytest

from avgzsl.datasets.audiosetzsl import read_audiosetzsl_class_list
from avgzsl.formats.feature_split import load_split
from avgzsl.formats.manifest import ClassTable, validate_manifest
from avgzsl.formats.shards import (
    FeatureError,
    read_feature_shard,
    read_status_table,
    write_feature_shard,
    write_status_table,
)

CLASSES = ClassTable(names=["dog", "cat", "pig"], seen=np.array([True, True, False]))


def manifest():
    return pd.DataFrame(
        {"clip_id": ["a", "b", "c", "d", "e"], "class": ["dog", "cat", "pig", "dog", "pig"],
         "split": ["trn", "trn", "trn", "tst", "tst"]}
    )


@pytest.fixture
def shards(tmp_path):
    rng = np.random.default_rng(0)
    text = write_feature_shard(tmp_path / "text.h5", rng.random((3, 5)), ["pig", "dog", "cat"], modality="text",
                               extractor="t")
    # audio lacks clip c; video lacks clip a; ids in different orders on purpose
    audio = write_feature_shard(tmp_path / "audio.h5", np.arange(4 * 4).reshape(4, 4), ["e", "b", "a", "d"],
                                modality="audio", extractor="cnn", settings={"n_mels": 64})
    video = write_feature_shard(tmp_path / "video.h5", 100 + np.arange(4 * 6).reshape(4, 6), ["c", "d", "e", "b"],
                                modality="video", extractor="i3d")
    return text, audio, video


def test_round_trip_keeps_attributes(shards):
    _, audio, _ = shards
    s = read_feature_shard(audio)
    assert s.ids == ["e", "b", "a", "d"] and s.dim == 4 and s.modality == "audio" and s.extractor == "cnn"
    assert s.settings == {"n_mels": 64} and len(s.settings_hash) == 12
    assert s.features.dtype == np.float32


def test_split_aligns_by_id_and_masks_missing(shards):
    text, audio, video = shards
    sp = load_split(manifest(), "trn", classes=CLASSES, text_path=text, audio_paths=[audio], video_paths=[video])
    assert sp.clip_ids == ["a", "b", "c"]
    assert sp.has_audio.tolist() == [True, True, False]
    assert sp.has_video.tolist() == [False, True, True]
    assert sp.audio[0].tolist() == [8, 9, 10, 11]  # clip a is row 2 of the audio shard
    assert sp.video[2].tolist() == [100, 101, 102, 103, 104, 105]
    assert float(sp.audio[2].abs().sum()) == 0.0
    assert sp.labels.tolist() == [0, 1, 2]
    text_rows = read_feature_shard(text)
    assert np.allclose(sp.text[0].numpy(), text_rows.features[1])  # reordered to the class table
    assert sp.seen_only().clip_ids == ["a", "b"]


def test_clip_without_any_modality_is_dropped(shards, tmp_path):
    text, audio, _ = shards
    sp = load_split(manifest(), "trn", classes=CLASSES, text_path=text, audio_paths=[audio])
    assert sp.clip_ids == ["a", "b"]


def test_nan_is_refused_with_file_and_clip(tmp_path):
    x = np.zeros((3, 2), np.float32)
    x[1, 0] = np.nan
    with pytest.raises(FeatureError, match=r"NaN or inf.*'y'"):
        write_feature_shard(tmp_path / "bad.h5", x, ["x", "y", "z"], modality="audio", extractor="e")
    # a file written by someone else with NaNs in it
    path = tmp_path / "foreign.h5"
    write_feature_shard(path, np.zeros((3, 2)), ["x", "y", "z"], modality="audio", extractor="e")
    with h5py.File(path, "r+") as f:
        f["features"][2, 1] = np.inf
    with pytest.raises(FeatureError, match=r"foreign\.h5.*'z'"):
        read_feature_shard(path)


def test_wrong_dimension_and_duplicates_are_refused(tmp_path, shards):
    text, audio, _ = shards
    with pytest.raises(FeatureError, match="expected 8-d"):
        read_feature_shard(audio, expected_dim=8)
    with pytest.raises(FeatureError, match="duplicate id 'x'"):
        write_feature_shard(tmp_path / "d.h5", np.zeros((2, 2)), ["x", "x"], modality="audio", extractor="e")
    with pytest.raises(FeatureError, match="3 feature rows but 2 ids"):
        write_feature_shard(tmp_path / "m.h5", np.zeros((3, 2)), ["x", "y"], modality="audio", extractor="e")
    other = write_feature_shard(tmp_path / "a2.h5", np.zeros((1, 7)), ["a"], modality="audio", extractor="e")
    with pytest.raises(FeatureError, match="disagree in dimension"):
        load_split(manifest(), "trn", classes=CLASSES, text_path=text, audio_paths=[audio, other])
    dup = write_feature_shard(tmp_path / "a3.h5", np.zeros((1, 4)), ["a"], modality="audio", extractor="e")
    with pytest.raises(FeatureError, match="more than one shard"):
        load_split(manifest(), "trn", classes=CLASSES, text_path=text, audio_paths=[audio, dup])


def test_text_missing_class_and_bad_manifest(tmp_path, shards):
    _, audio, _ = shards
    text = write_feature_shard(tmp_path / "t.h5", np.ones((2, 5)), ["dog", "cat"], modality="text", extractor="t")
    with pytest.raises(FeatureError, match="pig"):
        load_split(manifest(), "trn", classes=CLASSES, text_path=text, audio_paths=[audio])
    bad = manifest().assign(split=["trn", "train", "trn", "tst", "tst"])
    with pytest.raises(ValueError, match="train"):
        validate_manifest(bad)
    with pytest.raises(ValueError, match="cow"):
        validate_manifest(manifest().assign(**{"class": ["cow"] * 5}), classes=CLASSES)
    with pytest.raises(FileNotFoundError):
        read_feature_shard(tmp_path / "nope.h5")
    (tmp_path / "junk.h5").write_text("not hdf5")
    with pytest.raises(FeatureError, match="not a readable HDF5"):
        read_feature_shard(tmp_path / "junk.h5")


def test_status_table_round_trip(tmp_path):
    path = write_status_table(tmp_path / "s.tsv", [
        {"clip_id": "a", "status": "ok", "reason": None},
        {"clip_id": "b", "status": "skipped", "reason": "no audio stream"},
    ])
    t = read_status_table(path)
    assert t["reason"].tolist() == ["", "no audio stream"]
    assert not list(tmp_path.glob(".*tmp"))


def test_audiosetzsl_class_list_parser(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("'pig',\n'church-bell',\n'bus'")
    assert read_audiosetzsl_class_list(p) == ["pig", "church-bell", "bus"]


@pytest.mark.parametrize("umask,file_mode,dir_mode", [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)])
def test_atomic_outputs_follow_the_umask(tmp_path, umask, file_mode, dir_mode):
    import os

    from avgzsl.formats.atomic import staged_folder

    old = os.umask(umask)
    try:
        shard = write_feature_shard(tmp_path / "a.h5", np.zeros((1, 2)), ["x"], modality="audio", extractor="e")
        status = write_status_table(tmp_path / "a.status.tsv", [{"clip_id": "x", "status": "ok", "reason": ""}])
        with staged_folder(tmp_path / "out") as stage:
            (stage / "sub").mkdir()
            (stage / "sub" / "f.txt").write_text("x")
    finally:
        os.umask(old)
    assert [oct(p.stat().st_mode & 0o777) for p in (shard, status, tmp_path / "out" / "sub" / "f.txt")] == [
        oct(file_mode)] * 3
    assert [oct(p.stat().st_mode & 0o777) for p in (tmp_path / "out", tmp_path / "out" / "sub")] == [oct(dir_mode)] * 2


def test_staged_folder_appears_whole_or_not_at_all(tmp_path):
    from avgzsl.formats.atomic import staged_folder

    with pytest.raises(RuntimeError):
        with staged_folder(tmp_path / "parent" / "new") as stage:
            (stage / "half.txt").write_text("x")
            raise RuntimeError("writer died")
    assert list(tmp_path.iterdir()) == []
    existing = tmp_path / "existing"
    (existing / "sub").mkdir(parents=True)
    (existing / "sub" / "stale.txt").write_text("old")
    (existing / "other.txt").write_text("kept")
    with staged_folder(existing) as stage:
        (stage / "sub").mkdir()
        (stage / "sub" / "fresh.txt").write_text("new")
    assert sorted(str(p.relative_to(existing)) for p in existing.rglob("*")) == ["other.txt", "sub", "sub/fresh.txt"]


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


# (case, file name, content, what the error must say); every message must also name the file
BAD_TABLES = [
    ("0-byte manifest", "m.csv", "", "empty"),
    ("manifest without split column", "m.csv", "clip_id,class\na,dog\n", "missing columns"),
    ("manifest with an empty class", "m.csv", "clip_id,class,split\na,,trn\n", "line 2: empty 'class'"),
    ("manifest with unknown split", "m.csv", "clip_id,class,split\na,dog,train\n", "train"),
    ("manifest with duplicate id", "m.csv", "clip_id,class,split\na,dog,trn\na,cat,trn\n", "duplicate clip_id 'a'"),
    ("0-byte class table", "c.tsv", "", "empty"),
    ("class table without seen", "c.tsv", "name\ndog\n", "lacks column"),
    ("class table with seen=yes", "c.tsv", "name\tseen\ndog\tyes\n", "line 2"),
    ("class table with duplicate", "c.tsv", "name\tseen\ndog\t1\ndog\t0\n", "duplicate"),
]


@pytest.mark.parametrize("case,name,content,says", BAD_TABLES, ids=[c[0] for c in BAD_TABLES])
def test_bad_manifest_or_class_table_names_the_file(tmp_path, case, name, content, says):
    from avgzsl.formats.manifest import read_manifest

    path = _write(tmp_path, name, content)
    reader = read_manifest if name.endswith(".csv") else ClassTable.read
    with pytest.raises(ValueError, match=says) as err:
        reader(path)
    assert str(path) in str(err.value)


def test_unknown_class_names_manifest_and_class_table(tmp_path, shards):
    from avgzsl.formats.manifest import read_manifest

    text, audio, _ = shards
    manifest = manifest_frame_with(tmp_path, "cow")
    CLASSES.write(tmp_path / "classes.tsv")
    classes = ClassTable.read(tmp_path / "classes.tsv")
    with pytest.raises(ValueError, match="cow") as err:
        load_split(read_manifest(manifest), "trn", classes=classes, text_path=text, audio_paths=[audio])
    assert str(manifest) in str(err.value) and str(tmp_path / "classes.tsv") in str(err.value)


def manifest_frame_with(tmp_path, cls):
    path = tmp_path / "manifest.csv"
    manifest().assign(**{"class": ["dog", "cat", cls, "dog", "pig"]}).to_csv(path, index=False)
    return path


def test_shards_are_checked_against_modality_and_manifest(tmp_path, shards):
    text, audio, video = shards
    with pytest.raises(FeatureError, match=r"video\.h5: its modality attribute is 'video', but it was given as audio"):
        load_split(manifest(), "trn", classes=CLASSES, text_path=text, audio_paths=[video])
    with pytest.raises(FeatureError, match=r"audio\.h5: its modality attribute is 'audio', but it was given as the text shard"):
        load_split(manifest(), "trn", classes=CLASSES, text_path=audio, audio_paths=[audio])
    foreign = write_feature_shard(tmp_path / "foreign.h5", np.ones((2, 4)), ["q", "r"], modality="audio",
                                  extractor="e")
    with pytest.raises(FeatureError, match=r"foreign\.h5: none of its 2 clip ids"):
        load_split(manifest(), "trn", classes=CLASSES, text_path=text, audio_paths=[audio, foreign])
    # a shard of other splits' clips is fine; a split whose clips have no features at all is not
    tst_only = write_feature_shard(tmp_path / "tst.h5", np.ones((1, 4)), ["d"], modality="audio", extractor="e")
    assert load_split(manifest(), "tst", classes=CLASSES, text_path=text, audio_paths=[tst_only]).clip_ids == ["d"]
    with pytest.raises(FeatureError, match="split trn: none of its 3 clips"):
        load_split(manifest(), "trn", classes=CLASSES, text_path=text, audio_paths=[tst_only])


def test_ids_outside_the_manifest_are_counted_and_ignored(tmp_path, shards, caplog):
    text, _, _ = shards
    partly = write_feature_shard(tmp_path / "partly.h5", np.arange(12).reshape(3, 4), ["b", "stray1", "stray2"],
                                 modality="audio", extractor="e")
    with caplog.at_level("WARNING"):
        sp = load_split(manifest(), "trn", classes=CLASSES, text_path=text, audio_paths=[partly])
    assert "partly.h5: 2 of its 3 clip ids are not in the manifest and are ignored" in caplog.text
    assert sp.clip_ids == ["b"] and sp.audio[0].tolist() == [0, 1, 2, 3]
