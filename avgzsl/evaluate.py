"""Evaluation: score matrices per test modality, the metrics JSON, and one full experiment run.

Every run writes, beside its checkpoint:
  config.json   the experiment config, exactly as trained
  history.csv   per-epoch loss terms and validation HM
  scores.npz    clip ids, class names, labels, seen mask and the (N x C) distances per modality
  metrics.json  S / U / HM / ZSL at beta = 0 and calibrated (beta chosen on val), retrieval mAP
so every number in a table can be recomputed from scores.npz alone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from avgzsl.config import ExperimentConfig
from avgzsl.dataset import FeatureSplit
from avgzsl.metrics import choose_beta, gzsl_classification, retrieval_map
from avgzsl.train import model_distances, test_modalities, train_model
from avgzsl.model import JointEmbedding


def evaluate_scores(
    test_scores: dict[str, np.ndarray],
    test_labels: np.ndarray,
    seen: np.ndarray,
    *,
    val_scores: dict[str, np.ndarray] | None = None,
    val_labels: np.ndarray | None = None,
) -> dict:
    """Classification (beta = 0 and calibrated on val) and retrieval for each modality's distances."""
    out: dict = {"classification": {}, "retrieval": {}}
    for modality, d in test_scores.items():
        cls = {"beta0": gzsl_classification(d, test_labels, seen)}
        if val_scores is not None and modality in val_scores:
            beta = choose_beta(val_scores[modality], val_labels, seen)
            cls["calibrated"] = gzsl_classification(d, test_labels, seen, beta=beta)
        out["classification"][modality] = cls
        ret = retrieval_map(d, test_labels, seen)
        out["retrieval"][modality] = {k: ret[k] for k in ("S", "U", "HM")}
    return out


def model_scores(model: JointEmbedding, split: FeatureSplit, device) -> dict[str, np.ndarray]:
    """Distances per test modality; an attention model's `both` uses its learned weights."""
    fusion = "attention" if getattr(model, "attention", None) is not None else "equal"
    raw = model_distances(model, split, device, fusion=fusion)
    scores = {m: raw[m] for m in test_modalities(model)}
    if fusion == "attention":
        scores["both_equal"] = model_distances(model, split, device, fusion="equal")["both"]
        scores["attention_weight"] = raw["attention"]
    return scores


def write_scores(path: str | os.PathLike, split: FeatureSplit, scores: dict[str, np.ndarray]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"distances_{m}": d for m, d in scores.items() if m != "attention_weight"}
    if "attention_weight" in scores:
        arrays["attention_weight"] = scores["attention_weight"]
    tmp = path.with_name(f".{path.name}.tmp.npz")
    np.savez_compressed(
        tmp,
        clip_ids=np.array(split.clip_ids, dtype=str),
        class_names=np.array(split.classes.names, dtype=str),
        labels=split.labels.numpy(),
        seen=split.classes.seen,
        has_audio=split.has_audio.numpy(),
        has_video=split.has_video.numpy(),
        **arrays,
    )
    os.replace(tmp, path)


def read_scores(path: str | os.PathLike) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def coverage(split: FeatureSplit) -> dict:
    return {
        "clips": len(split),
        "with_audio": int(split.has_audio.sum()),
        "with_video": int(split.has_video.sum()),
        "with_both": int((split.has_audio & split.has_video).sum()),
    }


def _distance_scores(scores: dict) -> dict:
    return {m: d for m, d in scores.items() if m != "attention_weight"}


def run_experiment(
    cfg: ExperimentConfig,
    splits: dict[str, FeatureSplit],
    out_dir: str | os.PathLike,
    *,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """Train, select, (optionally retrain), test; write config, history, checkpoint, scores and metrics."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg.dump(out / "config.json")
    val = splits.get("val")
    result = train_model(cfg, splits["trn"], val, checkpoint=out / "checkpoint.pt", progress=progress, log=log)
    val_scores = model_scores(result.model, val, result.device) if val is not None else None
    model, history = result.model, result.history
    if cfg.train.protocol == "avca":
        if val is None:
            raise ValueError("the avca protocol needs a val split")
        log(f"avca: retraining on trn+val seen classes for {result.selected_epoch} epochs")
        trn_val = splits["trn"].concat(val)
        retrained = train_model(
            cfg, trn_val, None, epochs=result.selected_epoch, checkpoint=out / "checkpoint.pt",
            progress=progress, log=log,
        )
        model = retrained.model
        history = history + [{**row, "phase": "retrain"} for row in retrained.history]
    pd.DataFrame(history).to_csv(out / "history.csv", index=False)
    test = splits["tst"]
    test_scores = model_scores(model, test, result.device)
    write_scores(out / "scores.npz", test, test_scores)
    metrics = evaluate_scores(
        _distance_scores(test_scores), test.labels.numpy(), test.classes.seen,
        val_scores=_distance_scores(val_scores) if val_scores else None,
        val_labels=val.labels.numpy() if val is not None else None,
    )
    metrics.update(
        experiment=cfg.name, model=cfg.model.kind, seed=cfg.train.seed, protocol=cfg.train.protocol,
        selected_epoch=result.selected_epoch, coverage={k: coverage(s) for k, s in splits.items()},
    )
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return metrics


def summarize_seeds(metric_dicts: list[dict]) -> dict:
    """Mean and std (population, ddof=0) of every numeric leaf over seeds."""
    def leaves(d, prefix=()):
        for k, v in d.items():
            if isinstance(v, dict):
                yield from leaves(v, prefix + (k,))
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                yield prefix + (k,), float(v)

    table: dict[tuple, list[float]] = {}
    for m in metric_dicts:
        for key, value in leaves({"classification": m["classification"], "retrieval": m["retrieval"]}):
            table.setdefault(key, []).append(value)
    return {"/".join(k): {"mean": float(np.mean(v)), "std": float(np.std(v)), "n": len(v)} for k, v in table.items()}

