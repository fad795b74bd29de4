"""Deep experiments in the workflow: one (experiment, seed) per job.

Each seed trains into `<runs>/<experiment>/seed<k>/` (the files `avgzsl.training.run.run_experiment`
writes: config.json, history.csv, checkpoint.pt, scores.npz, val_scores.npz, metrics.json), published
whole by `avgzsl.pipeline.run_folders.publish_dir`; the summary over seeds is `avgzsl.pipeline.run_folders`'s too.
Classical baselines (one job each, `avgzsl.pipeline.baseline_experiment`) write the same layout with seed 0.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from avgzsl.datasets.loading import load_feature_splits
from avgzsl.models.registry import method_class
from avgzsl.pipeline.run_folders import publish_dir, summarize_experiment
from avgzsl.runtime.cpu_memory import keep_freed_memory
from avgzsl.settings.experiment import build_experiment
from avgzsl.training.run import run_experiment

log = logging.getLogger("avgzsl.pipeline.experiments")


def keep_training_memory() -> None:
    """For a process that only trains: glibc keeps freed blocks for reuse instead of faulting them in anew."""
    if (why_not := keep_freed_memory()) is not None:
        log.info("malloc keeps its default thresholds: %s", why_not)


def train_seed(spec: dict, seed: int, *, manifest, classes, text, audio, video, threads: int = 1,
               out: str, stage1_classes=None, audio_seq=(), video_seq=()) -> dict:
    """Train and test one seed of a deep experiment into the folder `out` (published whole); `audio_seq`,
    `video_seq`: sequence shards, read only for a model that reads sequences (TCaF)."""
    if not method_class(spec["model"].get("kind", "avgzslnet")).sequence_inputs:
        audio_seq, video_seq = (), ()  # the others train on the clip rows: no need to hold the windows
    splits = load_feature_splits(manifest=manifest, classes=classes, text=text, audio=audio, video=video,
                                 stage1_classes=stage1_classes, audio_seq=audio_seq, video_seq=video_seq)
    dims = {"audio_dim": splits["trn"].audio.shape[1], "video_dim": splits["trn"].video.shape[1],
            "text_dim": splits["trn"].text.shape[1]}
    for modality in ("audio", "video"):  # a temporal model's window times are its own settings: show the data's
        seqs = getattr(splits["trn"], f"{modality}_seq")
        if seqs is not None and len(seqs):
            log.info("%s sequences: window %.4g s, hop %.4g s, %d-%d windows per clip", modality, seqs.window_s,
                     seqs.hop_s, int(seqs.lengths.min()), int(seqs.lengths.max()))
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
