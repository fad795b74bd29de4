"""A corpus of hostile input files, generated here, each refused with one error naming the file and never read.

HDF5 shards and released `<class>.h5` files whose bytes live elsewhere (external storage, external or soft
links, virtual datasets), that hold the wrong kind of data, declare more than they store, or are not regular
files; saved scores and checkpoints that are damaged or carry bad values. Each goes through the Python
reader, and some through the command line (`train`, `evaluate`, `import-features`, `import-benchmark`,
`recompute`): exit 1, one `error:` line naming the file, no traceback, and nothing of the file's content
beyond a short escaped excerpt.
"""

from __future__ import annotations

import os
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest
from avca_helpers import write_class_split, write_released_features
from hostile_helpers import outside_file, refused
from released_helpers import shard_args, write_our_shards, write_released

from avgzsl.cli import main
from avgzsl.datasets.released import import_released
from avgzsl.formats.shards import FeatureError, read_feature_shard, write_feature_shard, write_status_table

FAST = ["--quiet", "--set", "train.epochs=1", "--set", "train.batch_size=32"]


def _shard(path, build, *, attrs=None, ids=("a", "b", "c"), dim=4):
    """A shard written by hand: `build(f)` adds /features; /ids and the attributes are a valid shard's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        build(f)
        if ids is not None:
            f.create_dataset("ids", data=np.array(list(ids), dtype=object), dtype=h5py.string_dtype())
        base = {"format_version": 1, "modality": "audio", "dim": dim, "extractor": "x", "settings": "{}"}
        for key, value in {**base, **(attrs or {})}.items():
            if value is not None:
                f.attrs[key] = value
    return path


def _plain(f, data=None):
    f.create_dataset("features", data=np.ones((3, 4), np.float32) if data is None else data)


def _external_storage(tmp_path):
    secret = outside_file(tmp_path)
    return _shard(tmp_path / "in" / "s.h5", lambda f: f.create_dataset(
        "features", shape=(3, 4), dtype=np.float32, external=[(str(secret), 0, 48)])), "external file"


def _external_ids(tmp_path):
    secret = outside_file(tmp_path)

    def build(f):
        _plain(f)
        f.create_dataset("ids", shape=(3,), dtype="S16", external=[(str(secret), 0, 48)])
    return _shard(tmp_path / "in" / "s.h5", build, ids=None), "external file"


def _external_link(tmp_path):
    other = _shard(tmp_path / "outside" / "other.h5", _plain)
    return _shard(tmp_path / "in" / "s.h5", lambda f: f.__setitem__(
        "features", h5py.ExternalLink(str(other), "/features"))), "external link"


def _external_link_to_text(tmp_path):
    secret = outside_file(tmp_path)
    return _shard(tmp_path / "in" / "s.h5", lambda f: f.__setitem__(
        "features", h5py.ExternalLink(str(secret), "/x"))), "external link"


def _soft_link(tmp_path):
    def build(f):
        _plain(f.create_group("hidden"))
        f["features"] = h5py.SoftLink("/hidden/features")
    return _shard(tmp_path / "in" / "s.h5", build), "soft link"


def _virtual(source_exists):
    def make(tmp_path):
        source = tmp_path / "outside" / "source.h5"
        if source_exists:
            _shard(source, _plain)
        layout = h5py.VirtualLayout(shape=(3, 4), dtype=np.float32)
        layout[:] = h5py.VirtualSource(str(source), "features", shape=(3, 4))
        return _shard(tmp_path / "in" / "s.h5", lambda f: f.create_virtual_dataset("features", layout)), "virtual"
    return make


def _dtype_case(dtype, says):
    def make(tmp_path):
        data = np.zeros((3, 4), dtype=dtype)
        return _shard(tmp_path / "in" / "s.h5", lambda f: _plain(f, data)), says
    return make


def _string_features(tmp_path):
    data = np.array([[b"1.5"] * 4] * 3)
    return _shard(tmp_path / "in" / "s.h5", lambda f: _plain(f, data)), "string"


def _group(tmp_path):
    return _shard(tmp_path / "in" / "s.h5", lambda f: f.create_group("features")), "a group"


def _huge_declared(rows):
    def make(tmp_path):
        def build(f):
            f.create_dataset("features", shape=(rows, 1024), dtype=np.float32)
            f.create_dataset("ids", shape=(rows,), dtype=h5py.string_dtype())
        return _shard(tmp_path / "in" / "s.h5", build, ids=None, dim=1024), "declares shape"
    return make


def _plugin_filter(tmp_path):
    return _shard(tmp_path / "in" / "s.h5", lambda f: f.create_dataset(
        "features", shape=(3, 4), dtype=np.float32, chunks=(3, 4), compression=32015,
        allow_unknown_filter=True)), "filter 32015"


def _missing_chunks(tmp_path):
    def build(f):
        d = f.create_dataset("features", shape=(3, 4), dtype=np.float32, chunks=(1, 4))
        d[0] = 1.0  # rows 1 and 2 would read as fill values
    return _shard(tmp_path / "in" / "s.h5", build), "1 of its 3 chunks"


def _zero_rows(tmp_path):
    return _shard(tmp_path / "in" / "s.h5", lambda f: _plain(f, np.zeros((0, 4), np.float32)), ids=()), "no rows"


def _non_utf8_ids(tmp_path):
    def build(f):
        _plain(f)
        f.create_dataset("ids", data=np.array([b"a", b"\xff\xfe\x80", b"c"]))
    return _shard(tmp_path / "in" / "s.h5", build, ids=None), "row 1 is not UTF-8"


def _attr_case(attrs, says):
    def make(tmp_path):
        return _shard(tmp_path / "in" / "s.h5", _plain, attrs=attrs), says
    return make


def _truncated(tmp_path):
    path = write_feature_shard(tmp_path / "in" / "s.h5", np.ones((200, 64)), [f"c{i}" for i in range(200)],
                               modality="audio", extractor="x")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path, "HDF5"


def _fifo(tmp_path):
    (tmp_path / "in").mkdir()
    os.mkfifo(tmp_path / "in" / "s.h5")
    return tmp_path / "in" / "s.h5", "FIFO"


def _directory(tmp_path):
    (tmp_path / "in" / "s.h5").mkdir(parents=True)
    return tmp_path / "in" / "s.h5", "a folder"


def _symlink_out(tmp_path):
    target = _shard(tmp_path / "outside" / "real.h5", _plain)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "s.h5").symlink_to(target)
    return tmp_path / "in" / "s.h5", "symbolic link"


HOSTILE_SHARDS = [
    ("external storage", _external_storage), ("external storage of the ids", _external_ids),
    ("external link", _external_link), ("external link to a text file", _external_link_to_text),
    ("soft link", _soft_link), ("virtual dataset, source missing", _virtual(False)),
    ("virtual dataset, source outside", _virtual(True)),
    ("compound dtype", _dtype_case([("a", "f4"), ("b", "i4")], "compound")),
    ("bool features", _dtype_case(bool, "bool")), ("complex features", _dtype_case(np.complex64, "complex")),
    ("string features", _string_features), ("group in place of the dataset", _group),
    ("500,000 x 1024 declared in a tiny file", _huge_declared(500_000)),
    ("10^9 rows declared", _huge_declared(10**9)), ("chunks missing", _missing_chunks),
    ("filter that loads a plugin", _plugin_filter),
    ("0-row shard", _zero_rows), ("non-UTF-8 ids", _non_utf8_ids),
    ("missing modality", _attr_case({"modality": None}, "missing attribute modality")),
    ("format_version as text", _attr_case({"format_version": "9"}, "format_version must be an integer")),
    ("format_version as an array", _attr_case({"format_version": [1, 2]}, "format_version must be an integer")),
    ("settings not JSON", _attr_case({"settings": "{oops"}, "attribute settings is not valid JSON")),
    ("settings a JSON list", _attr_case({"settings": "[1, 2]"}, "attribute settings must be a JSON object")),
    ("non-UTF-8 modality", _attr_case({"modality": np.bytes_(b"\xff\xfe")}, "modality")),
    ("truncated file", _truncated), ("FIFO", _fifo), ("directory", _directory), ("symlink out", _symlink_out),
]


@pytest.mark.parametrize("case,make", HOSTILE_SHARDS, ids=[c[0] for c in HOSTILE_SHARDS])
def test_hostile_shard_is_refused_naming_the_file(tmp_path, case, make):
    path, says = make(tmp_path)
    with pytest.raises(FeatureError) as err:
        read_feature_shard(path)
    assert says in str(err.value)
    refused(str(err.value), path)


@pytest.mark.parametrize("statuses,accepted", [(["skipped", "skipped"], True), (["skipped", "ok"], False),
                                               ([], False)])
def test_a_0_row_shard_is_read_only_as_a_record_of_all_clips_skipped(tmp_path, statuses, accepted):
    path, _ = _zero_rows(tmp_path)
    rows = [{"clip_id": f"c{i}", "status": s, "reason": "no audio stream" if s == "skipped" else ""}
            for i, s in enumerate(statuses)]
    write_status_table(path.with_suffix(".status.tsv"), pd.DataFrame(rows, columns=["clip_id", "status", "reason"]))
    if accepted:
        assert read_feature_shard(path).features.shape == (0, 4)
    else:
        with pytest.raises(FeatureError, match="no status table beside it records"):
            read_feature_shard(path)


def test_a_huge_declaration_is_refused_before_allocating(tmp_path):
    path, _ = _huge_declared(500_000)(tmp_path)
    assert path.stat().st_size < 64 * 1024
    import tracemalloc

    tracemalloc.start()
    with pytest.raises(FeatureError):
        read_feature_shard(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 16 << 20  # the declared array is 2 GB


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory):
    return write_our_shards(tmp_path_factory.mktemp("shards"), audio_dim=4, video_dim=6, text_dim=5)


THROUGH_TRAIN = [c for c in HOSTILE_SHARDS if c[0] in (
    "external storage", "external link", "virtual dataset, source missing", "500,000 x 1024 declared in a tiny file",
    "0-row shard", "symlink out")]


@pytest.mark.parametrize("case,make", THROUGH_TRAIN, ids=[c[0] for c in THROUGH_TRAIN])
def test_train_refuses_a_hostile_audio_shard(shard_dir, tmp_path, capsys, case, make):
    path, says = make(tmp_path)
    args = shard_args(shard_dir)
    i = args.index(str(shard_dir / "audio_trn.h5"))
    args[i] = str(path)
    assert main(["train", *args, "--out", str(tmp_path / "run"), *FAST]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and says in err and err.count("\n") == 1, err
    refused(err, path)
    assert not (tmp_path / "run").exists()


# ---- released folders --------------------------------------------------------------------------


def _released_external(f):
    secret = outside_file(f.parent.parent.parent, "data.bin", np.ones(3 * 16, np.float32).tobytes())
    path = f / "audio" / "trn" / "sound-a.h5"
    with h5py.File(path, "a") as h5:
        del h5["data"]
        h5.create_dataset("data", shape=(3, 16), dtype=np.float32, external=[(str(secret), 0, 3 * 16 * 4)])
    return path, "external file"


def _released_symlink(f):
    path = f / "video" / "tst" / "sound-e.h5"
    target = f.parent.parent / "elsewhere.h5"
    shutil.move(path, target)
    path.symlink_to(target)
    return path, "symbolic link"


def _released_virtual(f):
    path = f / "audio" / "val" / "sound-b.h5"
    layout = h5py.VirtualLayout(shape=(3, 16), dtype=np.float32)
    layout[:] = h5py.VirtualSource("/nonexistent/missing.h5", "data", shape=(3, 16))
    with h5py.File(path, "a") as h5:
        del h5["data"]
        h5.create_virtual_dataset("data", layout)
    return path, "virtual"


@pytest.mark.parametrize("breaks", [_released_external, _released_symlink, _released_virtual])
def test_import_features_refuses_hostile_class_files(tmp_path, capsys, breaks):
    src = write_released(tmp_path / "rel", layout="avca")
    path, says = breaks(src["features_dir"])
    with pytest.raises(FeatureError, match=says):
        import_released(tmp_path / "rel", tmp_path / "out")
    assert main(["import-features", str(tmp_path / "rel"), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and says in err
    refused(err, path)
    assert not (tmp_path / "out").exists()


def test_import_benchmark_refuses_an_external_link(tmp_path, capsys):
    cs = write_class_split(tmp_path / "lists", "ucf-gzsl")
    write_released_features(tmp_path / "rel", cs, "ucf-gzsl", "main")
    path = next((tmp_path / "rel" / "features" / "main_features" / "video" / "stage_1_train").glob("*.h5"))
    with h5py.File(path, "a") as h5:
        del h5["data"]
        h5["data"] = h5py.ExternalLink(str(outside_file(tmp_path)), "/data")
    assert main(["import-benchmark", str(tmp_path / "rel"), str(tmp_path / "out"), "--dataset", "ucf-gzsl",
                 "--variant", "main", "--split-lists", str(tmp_path / "lists"), "--no-verify"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "external link" in err
    refused(err, path)
