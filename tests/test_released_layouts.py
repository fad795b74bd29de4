"""import-features reads the authors' and AVCA-GZSL's released layouts, checks everything before writing, and
names the source file in every error; export-features writes what AVCA-GZSL's own loader reads; round trips
keep class order and bytes."""

from __future__ import annotations

import filecmp
import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from released_helpers import write_class_file, write_our_shards, write_released

from avgzsl.cli import main
from avgzsl.datasets.released import import_released
from avgzsl.datasets.released_export import export_released
from avgzsl.formats.manifest import ClassTable
from avgzsl.formats.shards import FeatureError, read_feature_shard


def _shard_rows(folder: Path, modality: str) -> dict:
    rows = {}
    for p in sorted((folder / modality).glob("*.h5")):
        s = read_feature_shard(p)
        rows.update(zip(s.ids, s.features))
    return rows


@pytest.mark.parametrize("layout", ["authors", "avca"])
def test_import_reads_both_layouts(tmp_path, layout):
    src = write_released(tmp_path / "rel", layout=layout)
    unseen = src["unseen"] if layout == "authors" else None  # AVCA's folder names them in unseen_class.txt
    written = import_released(tmp_path / "rel", tmp_path / "out", unseen=unseen)
    assert written["layout"] == layout
    classes = ClassTable.read(tmp_path / "out" / "classes.tsv")
    # the authors' release has no class list (sorted names); AVCA's all_class.txt order is kept
    assert classes.names == (sorted(src["names"]) if layout == "authors" else src["names"])
    assert sorted(classes.unseen_names) == sorted(src["unseen"])
    for modality in ("audio", "video"):
        rows = _shard_rows(tmp_path / "out", modality)
        assert len(rows) == 3 * 5 * 3
        assert all(np.array_equal(rows[u], src["features"][(modality, u)]) for u in rows)
    text = read_feature_shard(tmp_path / "out" / "text.h5")
    assert text.ids == classes.names
    assert all(np.array_equal(v, src["vectors"][n]) for n, v in zip(text.ids, text.features))
    manifest = pd.read_csv(tmp_path / "out" / "manifest.csv")
    assert set(manifest["split"]) == {"trn", "val", "tst"} and len(manifest) == 45


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _rewrite(path: Path, *, data=None, urls=None) -> None:
    with h5py.File(path) as f:
        old_data, old_urls = f["data"][...], [u.decode() for u in f["video_urls"][...]]
    write_class_file(path, old_data if data is None else data(old_data), old_urls if urls is None else urls(old_urls))


def _nan_row(d):
    d = d.copy()
    d[1, 0] = np.nan
    return d


def _empty_split(feats: Path) -> None:
    for modality in ("audio", "video"):
        for p in (feats / modality / "val").iterdir():
            p.unlink()


# (case, how to break the folder, the file the error must name, what it must say)
BAD_RELEASES = [
    ("truncated class file", lambda f: _truncate(f / "audio/trn/sound-c.h5"), "audio/trn/sound-c.h5", "HDF5"),
    ("mismatched dims", lambda f: _rewrite(f / "video/tst/sound-b.h5", data=lambda d: d[:, :7]),
     "video/tst/sound-b.h5", "7-d"),
    ("bad npy", lambda f: (f / "text/word_embeddings-dict-33.npy").write_bytes(b"not numpy at all"),
     "word_embeddings-dict-33.npy", "not a .npy"),
    ("npy not a dict", lambda f: np.save(f / "text/word_embeddings-dict-33.npy", np.zeros((5, 6))),
     "word_embeddings-dict-33.npy", "dict"),
    ("NaN row", lambda f: _rewrite(f / "audio/val/sound-a.h5", data=_nan_row), "audio/val/sound-a.h5", "NaN"),
    ("audio/video ids differ", lambda f: _rewrite(f / "video/trn/sound-d.h5", urls=lambda u: u[:-1] + ["other"]),
     "video/trn/sound-d.h5", "different clips"),
    ("empty split folder", _empty_split, "audio/val", "empty"),
    ("0-row class file", lambda f: [write_class_file(f / m / "tst/sound-e.h5", np.zeros((0, 16), np.float32), [])
                                    for m in ("audio", "video")], "audio/tst/sound-e.h5", "no clips"),
    ("class without word vector", lambda f: shutil.copy(f / "audio/trn/sound-e.h5", f / "audio/trn/zebra.h5"),
     "audio/trn/zebra.h5", "zebra"),
    ("missing video file", lambda f: (f / "video/trn/sound-a.h5").unlink(), "audio/trn/sound-a.h5", "no video"),
    ("missing data key", lambda f: h5py.File(f / "audio/trn/sound-b.h5", "w").close(), "audio/trn/sound-b.h5",
     "'data'"),
    ("clip in two classes", lambda f: [_rewrite(f / m / "trn/sound-b.h5", urls=lambda u: ["trn0x0"] + u[1:])
                                       for m in ("audio", "video")], "sound-b.h5", "also listed"),
    ("stray file", lambda f: (f / "audio/tst/notes.txt").write_text("x"), "audio/tst/notes.txt", "<class>.h5"),
]


@pytest.mark.parametrize("case,breaks,names,says", BAD_RELEASES, ids=[c[0] for c in BAD_RELEASES])
def test_import_refuses_bad_release_naming_the_source_and_writes_nothing(tmp_path, capsys, case, breaks, names, says):
    src = write_released(tmp_path / "rel", layout="avca")
    breaks(src["features_dir"])
    with pytest.raises((ValueError, FileNotFoundError)) as err:
        import_released(tmp_path / "rel", tmp_path / "out")
    assert names in str(err.value) and says in str(err.value)
    assert not (tmp_path / "out").exists()
    # the command line says the same in one line, exit status 1, no traceback
    assert main(["import-features", str(tmp_path / "rel"), str(tmp_path / "out2")]) == 1
    stderr = capsys.readouterr().err
    assert names in stderr and "Traceback" not in stderr and stderr.startswith("error: ")
    assert not (tmp_path / "out2").exists()


BAD_CLASS_LISTS = [
    ("class without vector", "all_class.txt", "'sound-e',\n'sound-d',\n'sound-c',\n'sound-b',\n'sound-a',\n'owl'",
     "owl"),
    ("unseen not in all", "unseen_class.txt", "'sound-e',\n'owl'", "owl"),
    ("empty list", "all_class.txt", "", "empty"),
    ("overlapping split", "seen_class.txt", "'sound-e',\n'sound-a'", "disjoint"),
]


@pytest.mark.parametrize("case,file,content,says", BAD_CLASS_LISTS, ids=[c[0] for c in BAD_CLASS_LISTS])
def test_import_refuses_bad_avca_class_lists(tmp_path, case, file, content, says):
    write_released(tmp_path / "rel", layout="avca")
    (tmp_path / "rel" / "class-split" / file).write_text(content)
    with pytest.raises(ValueError, match=says) as err:
        import_released(tmp_path / "rel", tmp_path / "out")
    assert "class-split" in str(err.value) or "word_embeddings" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_import_into_existing_folder_replaces_only_its_own_files(tmp_path):
    write_released(tmp_path / "rel", layout="avca")
    out = tmp_path / "out"
    (out / "logs").mkdir(parents=True)
    (out / "logs" / "keep.log").write_text("kept")
    import_released(tmp_path / "rel", out)
    import_released(tmp_path / "rel", out)  # a rerun replaces the outputs whole
    assert (out / "logs" / "keep.log").read_text() == "kept"
    assert sorted(p.name for p in out.iterdir()) == ["audio", "classes.tsv", "logs", "manifest.csv", "text.h5",
                                                     "video"]


def _export(shards: Path, out: Path, **kw) -> Path:
    return export_released(manifest=shards / "manifest.csv", classes=shards / "classes.tsv",
                           text=shards / "text.h5", out_dir=out, audio=sorted(shards.glob("audio_*.h5")),
                           video=sorted(shards.glob("video_*.h5")), **kw)


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("layout", ["authors", "avca"])
def test_import_export_import_gives_identical_files(tmp_path, layout):
    src = write_released(tmp_path / "rel", layout=layout)
    import_released(tmp_path / "rel", tmp_path / "first", unseen=src["unseen"] if layout == "authors" else None)
    first = tmp_path / "first"
    export_released(manifest=first / "manifest.csv", classes=first / "classes.tsv", text=first / "text.h5",
                    out_dir=tmp_path / "exported", audio=sorted((first / "audio").glob("*.h5")),
                    video=sorted((first / "video").glob("*.h5")))
    import_released(tmp_path / "exported", tmp_path / "second")
    assert _files(first) == _files(tmp_path / "second")
    _, mismatch, errors = filecmp.cmpfiles(first, tmp_path / "second", _files(first), shallow=False)
    assert mismatch == [] and errors == []


def test_class_order_survives_export_and_import(tmp_path):
    order = [f"class{i:02d}" for i in (3, 0, 7, 1, 6, 2, 5, 4)]
    shards = write_our_shards(tmp_path / "ours", audio_dim=16, video_dim=16, class_order=order)
    _export(shards, tmp_path / "rel")
    import_released(tmp_path / "rel", tmp_path / "back")
    original, back = ClassTable.read(shards / "classes.tsv"), ClassTable.read(tmp_path / "back" / "classes.tsv")
    assert back.names == order
    assert back.seen.tolist() == original.seen.tolist()
    for modality in ("audio", "video"):
        ours = {}
        for p in shards.glob(f"{modality}_*.h5"):
            s = read_feature_shard(p)
            ours.update(zip(s.ids, s.features))
        theirs = _shard_rows(tmp_path / "back", modality)
        # clips without video are left out of the export (AVCA-GZSL's loader needs both)
        assert set(theirs) <= set(ours) and len(theirs) == len(_shard_rows(tmp_path / "back", "video"))
        assert all(np.array_equal(ours[k], theirs[k]) for k in theirs)


def _rename_class(shards: Path, old: str, new: str) -> dict:
    for name in ("classes.tsv", "manifest.csv"):
        (shards / name).write_text((shards / name).read_text().replace(old, new))
    return {}


BAD_EXPORTS = [
    ("video shard as audio", lambda d: {"audio": sorted(d.glob("video_*.h5"))}, "video_trn.h5", "given as audio"),
    ("class name with a space", lambda d: _rename_class(d, "class03", "class 03"), "classes.tsv", "class 03"),
    ("no video", lambda d: {"video": []}, "", "both audio and video"),
]


@pytest.mark.parametrize("case,breaks,names,says", BAD_EXPORTS, ids=[c[0] for c in BAD_EXPORTS])
def test_export_refuses_what_avca_cannot_read(tmp_path, case, breaks, names, says):
    shards = write_our_shards(tmp_path / "ours", audio_dim=16, video_dim=16)
    args = {"manifest": shards / "manifest.csv", "classes": shards / "classes.tsv", "text": shards / "text.h5",
            "out_dir": tmp_path / "rel", "audio": sorted(shards.glob("audio_*.h5")),
            "video": sorted(shards.glob("video_*.h5"))}
    args.update(breaks(shards) or {})
    with pytest.raises((ValueError, FeatureError)) as err:
        export_released(**args)
    assert names in str(err.value) and says in str(err.value)
    assert not (tmp_path / "rel").exists()


def test_outputs_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_released(tmp_path / "rel", layout="avca")
        import_released(tmp_path / "rel", tmp_path / "imported")
        shards = write_our_shards(tmp_path / "ours", audio_dim=16, video_dim=16)
        _export(shards, tmp_path / "exported")
    finally:
        os.umask(old)
    for root in (tmp_path / "imported", tmp_path / "exported", shards):
        paths = [root, *root.rglob("*")]
        assert {oct(p.stat().st_mode & 0o777) for p in paths if p.is_file()} == {oct(0o644)}, root
        assert {oct(p.stat().st_mode & 0o777) for p in paths if p.is_dir()} == {oct(0o755)}, root


AVCA_REPO = Path(os.environ.get("AVGZSL_AVCA_REPO", "/work/.mirror/ExplainableML+AVCA-GZSL/repo"))


def _avca_loader_module(tmp_path: Path):
    """AVCA-GZSL's `src/dataset.py`, unmodified, read from a local copy of their repository.

    Their `src/utils.py` imports tensorboard and matplotlib at module level; the loader needs only its
    `read_features` and `get_class_names`, so those two functions are taken verbatim from it (by AST) into a
    stand-in `src.utils`. Skips where no copy of the repository is available (it is not vendored here).
    """
    import ast
    import importlib.util
    import subprocess
    import sys
    import types

    def show(path: str) -> str:
        if (AVCA_REPO / path).is_file():  # a checkout
            return (AVCA_REPO / path).read_text()
        if shutil.which("git") is None:
            pytest.skip("git is needed to read AVCA-GZSL's repository copy")
        done = subprocess.run(["git", "-C", str(AVCA_REPO), "show", f"HEAD:{path}"], capture_output=True, text=True,
                              check=False)
        if done.returncode:
            pytest.skip(f"cannot read {path} from {AVCA_REPO}: {done.stderr.strip()}")
        return done.stdout

    if not AVCA_REPO.exists():
        pytest.skip(f"no copy of AVCA-GZSL's repository at {AVCA_REPO} (set AVGZSL_AVCA_REPO to a clone)")
    utils_src = show("src/utils.py")
    wanted = [node for node in ast.parse(utils_src).body
              if isinstance(node, ast.FunctionDef) and node.name in ("read_features", "get_class_names")]
    assert len(wanted) == 2
    utils = types.ModuleType("src.utils")
    import h5py as _h5py
    utils.__dict__.update(h5py=_h5py, Path=Path)
    exec(compile(ast.Module(body=wanted, type_ignores=[]), "AVCA-GZSL src/utils.py", "exec"), utils.__dict__)
    package = types.ModuleType("src")
    package.__path__ = []
    package.utils = utils
    saved = {k: sys.modules.get(k) for k in ("src", "src.utils")}
    sys.modules.update({"src": package, "src.utils": utils})
    try:
        dataset_file = tmp_path / "avca_dataset.py"
        dataset_file.write_text(show("src/dataset.py"))
        spec = importlib.util.spec_from_file_location("avca_src_dataset", dataset_file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    return module


@pytest.mark.filterwarnings("ignore:Creating a tensor from a list of numpy.ndarrays")
def test_export_is_read_by_avca_gzsl_loader(tmp_path, monkeypatch):
    from types import SimpleNamespace

    avca = _avca_loader_module(tmp_path)
    order = [f"class{i:02d}" for i in (3, 0, 7, 1, 6, 2, 5, 4)]
    shards = write_our_shards(tmp_path / "ours", audio_dim=16, video_dim=16, class_order=order)
    _export(shards, tmp_path / "rel", features_name="ours")
    table = ClassTable.read(shards / "classes.tsv")
    manifest = pd.read_csv(shards / "manifest.csv").set_index("clip_id")
    ours = {m: {} for m in ("audio", "video")}
    for m in ours:
        for p in shards.glob(f"{m}_*.h5"):
            s = read_feature_shard(p)
            ours[m].update(zip(s.ids, s.features))
    text = read_feature_shard(shards / "text.h5")
    monkeypatch.chdir(tmp_path)  # their loader caches pickles under ./avgzsl_benchmark_datasets/
    args = SimpleNamespace(root_dir=tmp_path / "rel", dataset_name="AudioSetZSL", feature_extraction_method="ours",
                           manual_text_word2vec=False, input_size=16)
    their_index = {n: i for i, n in enumerate(sorted(table.names))}  # their class_to_idx
    for their_split, our_splits in (("train", ["trn"]), ("val", ["val"]), ("train_val", ["trn", "val"]),
                                    ("test", ["tst"])):
        ds = avca.AudioSetZSLDataset(args, their_split, "all")
        data = ds.all_data
        urls = list(data["url"])
        expected = manifest[manifest["split"].isin(our_splits)].index
        expected = [c for c in expected if c in ours["audio"] and c in ours["video"]]
        assert urls and sorted(urls) == sorted(expected)
        for m in ("audio", "video"):
            assert np.array_equal(data[m].numpy(), np.stack([ours[m][u] for u in urls]))
        assert data["target"].tolist() == [their_index[manifest.loc[u, "class"]] for u in urls]
        assert sorted(ds.unseen_class_names) == sorted(table.unseen_names)
        assert np.allclose(data["text"].numpy(), text.features[[text.ids.index(n) for n in sorted(table.names)]])
