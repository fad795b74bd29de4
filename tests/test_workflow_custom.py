"""A user's own clips (dataset: custom): editing the manifest, the class list or a clip re-runs what reads it.

One tiny custom run (real H.264/AAC clips written with PyAV) is shared by the module; each test reads the
dry-run plan by rule and undoes its edit.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from media import make_clip
from workflow_helpers import copy_repo, job_counts, snakemake

TINY = "tests/configs/tiny.yaml"
CONFIG = "custom.yaml"
CLASSES = {"dog": True, "cat": True, "horse": True, "pig": False}
SHARD_SIZE = 6
pytestmark = pytest.mark.slow


def _clip(repo: Path, name: str) -> str:
    make_clip(repo / "mydata" / "clips" / f"{name}.mp4", seconds=2.0, fps=8, size=(64, 64))
    return f"clips/{name}.mp4"


def _row(cls: str, split: str, path: str) -> str:
    return f"{cls},{split},{path},0.0,2.0\n"


@pytest.fixture(scope="module")
def custom_run(tmp_path_factory):
    repo = copy_repo(tmp_path_factory.mktemp("custom") / "repo")
    rows = []
    for cls, seen in CLASSES.items():
        splits = ["trn", "trn", "val", "tst"] if seen else ["val", "tst", "tst"]
        rows += [_row(cls, split, _clip(repo, f"{cls}_{i}")) for i, split in enumerate(splits)]
    (repo / "mydata" / "manifest.csv").write_text("class,split,path,start,end\n" + "".join(rows))
    (repo / "mydata" / "classes.tsv").write_text(
        "name\tseen\n" + "".join(f"{c}\t{int(s)}\n" for c, s in CLASSES.items()))
    cfg = yaml.safe_load((repo / TINY).read_text())
    cfg.update(dataset="custom", shard_size=SHARD_SIZE,
               custom={"manifest": "mydata/manifest.csv", "classes": "mydata/classes.tsv"})
    cfg["experiments"] = {"avgzslnet": {}, "eszsl": {"baseline": "eszsl"}}
    (repo / CONFIG).write_text(yaml.safe_dump(cfg))
    snakemake(repo, "--configfile", CONFIG, timeout=1500)
    return repo


def plan(repo: Path) -> dict[str, int]:
    return job_counts(snakemake(repo, "--configfile", CONFIG, "-n").stdout)


def n_shards(repo: Path) -> int:
    return len(list((repo / "results/custom/media").glob("shard_*.tsv")))


def edited_plan(path: Path, edit) -> dict[str, int]:
    repo = path.parents[1]
    original = path.read_text()
    path.write_text(edit(original))
    try:
        return plan(repo)
    finally:
        path.write_text(original)


def test_custom_run_is_complete_and_records_relative_media_paths(custom_run):
    assert plan(custom_run) == {}
    assert n_shards(custom_run) == 3  # 15 clips, 6 per shard
    media = (custom_run / "results/custom/media/shard_00000.tsv").read_text()
    assert "\tmydata/clips/dog_0.mp4\t" in media and str(custom_run) not in media


def test_adding_a_clip_reruns_its_shard_and_downstream(custom_run):
    _clip(custom_run, "pig_extra")
    try:
        counts = edited_plan(custom_run / "mydata/manifest.csv",
                             lambda text: text + _row("pig", "tst", "clips/pig_extra.mp4"))
    finally:
        (custom_run / "mydata/clips/pig_extra.mp4").unlink()
    assert counts["manifest"] == 1
    assert counts["custom_media_shard"] == counts["extract_video_shard"] == 1  # the last shard only
    # the audio CNN trains on every media table, so each audio shard is extracted again
    assert counts["train_audio_cnn"] == 1 and counts["extract_audio_shard"] == n_shards(custom_run)
    assert counts["train_seed"] == 1 and counts["run_baseline"] == 1 and counts["tables"] == 1
    assert plan(custom_run) == {}


def test_flipping_a_class_reruns_no_media_or_video_job(custom_run):
    counts = edited_plan(custom_run / "mydata/classes.tsv", lambda text: text.replace("horse\t1", "horse\t0"))
    assert counts["manifest"] == 1 and counts["text_features"] == 1 and counts["train_audio_cnn"] == 1
    assert counts["train_seed"] == 1 and counts["tables"] == 1
    assert not {"custom_media_shard", "extract_video_shard"} & set(counts), counts


def test_relabelling_a_clip_reruns_no_media_or_video_job(custom_run):
    manifest = custom_run / "mydata/manifest.csv"
    tst_row = next(line for line in manifest.read_text().splitlines() if line.startswith("horse,tst,"))
    counts = edited_plan(manifest, lambda text: text.replace(tst_row, tst_row.replace("horse,tst,", "dog,tst,", 1)))
    assert counts["manifest"] == 1 and counts["train_seed"] == 1 and counts["tables"] == 1
    # the audio CNN reads the manifest, so it and the audio features follow; the media and video do not
    assert counts["train_audio_cnn"] == 1 and counts["extract_audio_shard"] == n_shards(custom_run)
    assert not {"custom_media_shard", "extract_video_shard"} & set(counts), counts
    assert plan(custom_run) == {}


def test_editing_one_clip_reruns_only_its_shard(custom_run):
    clip = custom_run / "mydata/clips/horse_0.mp4"  # row 9: shard 1
    original, stat = clip.read_bytes(), clip.stat()
    make_clip(clip, seconds=2.0, fps=8, size=(64, 48))
    try:
        counts = plan(custom_run)
    finally:
        clip.write_bytes(original)
        os.utime(clip, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert counts["custom_media_shard"] == counts["extract_video_shard"] == 1
    assert "manifest" not in counts
    assert plan(custom_run) == {}
