"""Refuse, don't guess: a second writer of one --out, stale staging folders, imports into non-empty folders,
exports that would not import, recompute without val scores, seen classes without trn clips."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from released_helpers import shard_args, write_our_shards, write_released

from avgzsl.cli import main
from avgzsl.formats.shards import read_feature_shard, write_feature_shard

FAST = ["--quiet", "--set", "train.epochs=1", "--set", "train.batch_size=32"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_our_shards(tmp_path_factory.mktemp("shards"), audio_dim=8, video_dim=6, text_dim=5)


@pytest.fixture(scope="module")
def run(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained") / "run"
    assert main(["train", *shard_args(data), "--out", str(out), *FAST]) == 0
    return out / "seed0"


def _last_line(err: str) -> str:
    return [line for line in err.splitlines() if line.strip()][-1]


def test_a_second_writer_of_the_same_out_stops_at_once(data, tmp_path, capsys, monkeypatch):
    out = tmp_path / "runs" / "x"
    holder = subprocess.Popen(  # another process writing runs/x now
        [sys.executable, "-c", "import sys; from avgzsl.formats.atomic import output_lock\n"
         f"with output_lock({str(out)!r}):\n    print('held', flush=True)\n    sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={"PYTHONPATH": ":".join(sys.path)})
    try:
        assert holder.stdout.readline().strip() == "held"
        import avgzsl.commands.train_eval

        def no_reading(args):
            raise AssertionError("the data was read although --out is taken")

        monkeypatch.setattr(avgzsl.commands.train_eval, "load_splits", no_reading)
        started = time.monotonic()
        assert main(["train", *shard_args(data), "--out", str(out), *FAST]) == 1
        line = _last_line(capsys.readouterr().err)
        assert line.startswith(f"error: {out}: another run is writing this folder now") and "Traceback" not in line
        assert time.monotonic() - started < 10
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    monkeypatch.undo()
    assert main(["train", *shard_args(data), "--out", str(out), *FAST]) == 0  # free again: the lock went with it
    assert sorted(p.name for p in out.parent.iterdir()) == ["x"]  # no lock file or stage left


def test_a_killed_runs_staging_folder_is_removed_by_the_next_run(data, tmp_path, capsys):
    out = tmp_path / "run"
    stale = tmp_path / ".run.partial-0123456789ab.tmp"
    (stale / "seed0").mkdir(parents=True)
    (stale / "seed0" / "checkpoint.pt").write_bytes(b"half")
    assert main(["train", *shard_args(data), "--out", str(out), *FAST]) == 0
    assert not stale.exists() and f"removing {stale}" in capsys.readouterr().err
    inner = out / ".partial-0123456789ab.tmp"  # a killed rerun into the existing folder stages inside it
    inner.mkdir()
    assert main(["train", *shard_args(data), "--out", str(out), *FAST]) == 0
    assert not inner.exists()


def test_import_refuses_a_folder_holding_other_files_and_replaces_an_earlier_import(tmp_path, capsys):
    release = tmp_path / "release"
    write_released(release, layout="avca")
    out = tmp_path / "imported"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["import-features", str(release), str(out)]) == 1
    line = _last_line(capsys.readouterr().err)
    assert line.startswith(f"error: {out}: not empty (holds notes.txt)")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    (out / "notes.txt").unlink()
    assert main(["import-features", str(release), str(out)]) == 0
    # the same import again, from a release without video: the earlier video/ must not stay behind
    shutil.rmtree(release / "features" / "main_features" / "video")
    assert main(["import-features", str(release), str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["audio", "classes.tsv", "manifest.csv", "text.h5"]
    assert "left by an earlier import" in capsys.readouterr().err


def test_export_refuses_ids_the_import_would_refuse(data, tmp_path, capsys):
    local = tmp_path / "shards"
    shutil.copytree(data, local)
    manifest = pd.read_csv(local / "manifest.csv")
    renamed = {manifest["clip_id"][1]: ".hidden", manifest["clip_id"][2]: "a..b"}  # clip 0 has no video
    manifest["clip_id"] = manifest["clip_id"].replace(renamed)
    manifest.to_csv(local / "manifest.csv", index=False)
    for path in [*local.glob("audio_*.h5"), *local.glob("video_*.h5")]:
        shard = read_feature_shard(path)
        write_feature_shard(path, shard.features, [renamed.get(i, i) for i in shard.ids], modality=shard.modality,
                            extractor=shard.extractor)
    assert main(["export-features", *shard_args(local), "--out", str(tmp_path / "export")]) == 1
    line = _last_line(capsys.readouterr().err)
    assert line.startswith(f"error: {local / 'manifest.csv'}: 2 clip id(s) that import-features would refuse")
    assert "'.hidden'" in line and "'a..b'" in line and not (tmp_path / "export").exists()


def test_recompute_without_val_scores_refuses_or_warns(run, tmp_path, capsys):
    copy = tmp_path / "seed0"
    shutil.copytree(run, copy)
    (copy / "val_scores.npz").unlink()
    assert main(["recompute", str(copy)]) == 1
    line = _last_line(capsys.readouterr().err)
    assert line.startswith(f"error: {copy / 'val_scores.npz'} is missing") and "calibrated" in line
    metrics = json.loads((copy / "metrics.json").read_text())  # a run that never had a val split
    for entry in metrics["classification"].values():
        entry.pop("calibrated", None)
    (copy / "metrics.json").write_text(json.dumps(metrics))
    assert main(["recompute", str(copy), "--out", str(tmp_path / "m.json")]) == 0
    assert f"warning: {copy / 'val_scores.npz'} not found: calibrated results" in capsys.readouterr().err


def test_train_warns_about_a_seen_class_without_trn_clips(data, tmp_path, capsys):
    manifest = pd.read_csv(data / "manifest.csv")
    classes = pd.read_csv(data / "classes.tsv", sep="\t")
    seen = classes.loc[classes["seen"] == 1, "name"].iloc[0]
    manifest = manifest[~((manifest["class"] == seen) & (manifest["split"] == "trn"))]
    manifest.to_csv(tmp_path / "manifest.csv", index=False)
    args = shard_args(data)
    args[args.index("--manifest") + 1] = str(tmp_path / "manifest.csv")
    assert main(["train", *args, "--out", str(tmp_path / "run"), *FAST]) == 0
    err = capsys.readouterr().err
    assert f"warning: {tmp_path / 'manifest.csv'}: seen class(es) without trn clips cannot be learned: ['{seen}']" in err


def test_duplicate_seeds_are_refused_before_any_work(data, tmp_path, capsys):
    assert main(["train", *shard_args(data), "--out", str(tmp_path / "run"), "--seeds", "0", "1", "0", *FAST]) == 1
    assert _last_line(capsys.readouterr().err).startswith("error: --seeds: seed(s) [0] given more than once")
    assert not Path(tmp_path / "run").exists()


def test_an_output_folder_in_a_read_only_parent_is_locked_inside_it(tmp_path, monkeypatch):
    import avgzsl.formats.atomic as atomic

    real = atomic._acquire

    def parent_read_only(lock, path):
        if lock.parent == tmp_path:
            raise PermissionError(13, "Permission denied", str(lock))
        return real(lock, path)

    monkeypatch.setattr(atomic, "_acquire", parent_read_only)
    out = tmp_path / "out"
    out.mkdir()
    with atomic.output_lock(out), atomic.staged_folder(out) as stage:  # re-entrant through the inner lock too
        assert (out / ".avgzsl-output.lock").exists()
        (stage / "result.txt").write_text("done")
    assert sorted(p.name for p in out.iterdir()) == ["result.txt"]
    with pytest.raises(PermissionError):  # a new folder cannot be made there anyway: said as it is
        with atomic.output_lock(tmp_path / "new"):
            pass
