"""Workflow experiments: one deep-model seed per job, and the per-experiment summary over its seeds.

Each (experiment, seed) trains in its own job into `<runs>/<experiment>/seed<k>/` (the files
`avgzsl.evaluate.run_experiment` writes: config.json, history.csv, checkpoint.pt, scores.npz,
metrics.json). The folder is written under a temporary name and renamed into place whole, so a
killed job never leaves a seed folder that mixes two runs. A cheap downstream step writes
`<runs>/<experiment>/summary.json`:
    {"experiment", "kind", "spec", "runs": [per-seed metrics], "summary": mean/std of every number}
Classical baselines (one job each, `avgzsl.baseline_experiment`) write the same layout with seed 0.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import torch

from avgzsl.avca_stages import stage_splits
from avgzsl.config import build_experiment
from avgzsl.dataset import SPLITS, ClassTable, FeatureSplit, load_split, read_manifest
from avgzsl.evaluate import run_experiment, summarize_seeds

log = logging.getLogger("avgzsl.experiments")


def load_feature_splits(*, manifest, classes, text, audio, video, stage1_classes=None) -> dict[str, FeatureSplit]:
    """Every split with clips. `stage1_classes` (an AVCA-GZSL benchmark's classes_stage1.tsv): trn and val take
    its class roles and a `trn_val` split the stage-2 ones (avgzsl.avca_stages)."""
    table = read_manifest(manifest)
    class_table = ClassTable.read(classes)
    present = [s for s in SPLITS if (table["split"] == s).any()]
    splits = {
        s: load_split(table, s, classes=class_table, text_path=text, audio_paths=audio, video_paths=video)
        for s in present
    }
    if stage1_classes:
        splits = stage_splits(splits, ClassTable.read(stage1_classes))
    return splits


@contextlib.contextmanager
def publish_dir(out: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary folder beside `out`; on success it is renamed to `out` in one step.

    Leftovers of killed earlier attempts (`.<name>.*.tmp`) are removed first; on failure the
    temporary folder is removed, so `out` is either the complete new folder or absent.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}.*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = out.parent / f".{out.name}.{uuid.uuid4().hex[:12]}.tmp"
    tmp.mkdir()  # (not mkdtemp: its 0700 would stay on the published folder)
    try:
        yield tmp
        if out.exists():
            # the workflow removes a job's outputs before it runs; an empty folder it made may remain
            out.rmdir()
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def train_seed(spec: dict, seed: int, *, manifest, classes, text, audio, video, threads: int = 1,
               out: str, stage1_classes=None) -> dict:
    """Train and test one seed of a deep experiment into the folder `out` (published whole)."""
    splits = load_feature_splits(manifest=manifest, classes=classes, text=text, audio=audio, video=video,
                                 stage1_classes=stage1_classes)
    dims = {"audio_dim": splits["trn"].audio.shape[1], "video_dim": splits["trn"].video.shape[1],
            "text_dim": splits["trn"].text.shape[1]}
    torch.set_num_threads(max(1, threads))
    cfg = build_experiment(
        name=spec["name"], preset_name=spec["preset"], model={**spec["model"], **dims}, loss=spec["loss"],
        train={**spec["train"], "seed": seed},
    )
    with publish_dir(out) as tmp:
        metrics = run_experiment(cfg, splits, tmp, progress=False, log=log.info)
    both = metrics["classification"].get("both") or next(iter(metrics["classification"].values()))
    log.info("seed %d: S=%.4f U=%.4f HM=%.4f (beta=0)", seed, both["beta0"]["S"], both["beta0"]["U"],
             both["beta0"]["HM"])
    return metrics


def experiment_kind(spec: dict) -> str:
    """The model kind of a deep experiment, or the baseline's name."""
    if "baseline" in spec:
        return spec["baseline"]
    cfg = build_experiment(name=spec["name"], preset_name=spec["preset"], model=spec["model"], loss=spec["loss"],
                           train=spec["train"])
    return cfg.model.kind


def write_summary(path: str | Path, spec: dict, runs: list[dict]) -> dict:
    summary = {"experiment": spec["name"], "kind": experiment_kind(spec), "spec": spec, "runs": runs,
               "summary": summarize_seeds(runs)}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary


def summarize_experiment(spec: dict, seed_dirs: list[str], *, out: str) -> dict:
    """Mean ± std over the seed folders' metrics.json, in the order of the experiment's seeds."""
    runs = []
    for folder in seed_dirs:
        path = Path(folder) / "metrics.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: the seed folder is not a finished run")
        runs.append(json.loads(path.read_text()))
    return write_summary(out, spec, runs)


def run_deep_experiment(spec: dict, *, manifest, classes, text, audio, video, threads: int = 1,
                        summary_out: str) -> dict:
    """Every seed of a deep experiment, one after the other, then the summary (outside the workflow,
    which runs each seed as its own job)."""
    runs = Path(summary_out).parent
    seed_dirs = []
    for seed in spec["seeds"]:
        seed_dirs.append(str(runs / f"seed{seed}"))
        train_seed(spec, seed, manifest=manifest, classes=classes, text=text, audio=audio, video=video,
                   threads=threads, out=seed_dirs[-1])
    return summarize_experiment(spec, seed_dirs, out=summary_out)
