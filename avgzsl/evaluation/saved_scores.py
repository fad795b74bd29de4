"""Saved scores and the metrics computed from them alone (no model, no training code).

Every run writes, beside its checkpoint:
  config.json     the experiment config, exactly as trained
  history.csv     per-epoch loss terms and validation HM
  scores.npz      test: clip ids, class names, labels, seen mask, has_audio / has_video, the (N x C)
                  distances per modality, and `run_info` (JSON: experiment, model, seed, protocol,
                  missing-modality policy, coverage, epochs trained)
  val_scores.npz  the same for val (the distances beta is chosen on), and the per-epoch validation
                  numbers that chose the epoch (`epochs_epoch`, `epochs_val_hm`, ...)
  metrics.json    S / U / HM / ZSL at beta = 0 and calibrated (beta chosen on val), retrieval mAP,
                  the clips each row scored, and how the numbers were chosen: `calibration` (the beta rule,
                  each row's val-best beta, the beta it is tested with and its val HM there) and, for a
                  trained model, `selected_epoch` with `selection` (the validation number compared across
                  epochs, the row it was measured on, and the selected epoch's val HM, calibrated val HM and
                  val-best beta); `both_fusion` says how the "both" row was formed
metrics.json is computed from the two .npz files after they are written (`metrics_from_saved`), so
every number in it, and in the tables, can be recomputed from them alone: `avgzsl recompute RUN_DIR`
and `avgzsl recompute-tables RUNS_DIR`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from scipy import stats

from avgzsl.evaluation.metrics import gzsl_classification, retrieval_map, scored_rows
from avgzsl.evaluation.protocol import beta_rule as protocol_beta_rule
from avgzsl.evaluation.protocol import calibration_record, selection_record
from avgzsl.formats.atomic import atomic_output
from avgzsl.formats.feature_split import FeatureSplit
from avgzsl.formats.results_json import json_text, write_json
from avgzsl.formats.safe_npz import read_npz
from avgzsl.runtime.numeric_env import numeric_environment

SCORES_FILE, VAL_SCORES_FILE, METRICS_FILE = "scores.npz", "val_scores.npz", "metrics.json"
EPOCH_COLUMNS = ("epoch", "val_hm", "val_hm_calibrated", "val_beta")  # the per-epoch numbers that chose the epoch


def evaluate_scores(
    test_scores: dict[str, np.ndarray],
    test_labels: np.ndarray,
    seen: np.ndarray,
    *,
    val_scores: dict[str, np.ndarray] | None = None,
    val_labels: np.ndarray | None = None,
    test_rows: dict[str, np.ndarray] | None = None,
    val_rows: dict[str, np.ndarray] | None = None,
    beta_rule: str = "per_modality",
    val_seen: np.ndarray | None = None,
) -> dict:
    """Classification (beta = 0 and calibrated on val) and retrieval for each modality's distances.

    `test_rows` / `val_rows` (modality -> boolean mask) keep only the clips a modality's row scores
    (avgzsl.evaluation.metrics.scored_rows); every clip counts when absent. `beta_rule`
    (avgzsl.evaluation.protocol.calibration_betas): each row its own val-best beta, or AVCA's one beta for all rows,
    the mean of the audio, video and both val-best betas. `val_seen`: the val split's own seen flags, where its
    class roles differ from the test's (AVCA-GZSL's stage 1 on their benchmarks, avgzsl.datasets.avca_stages); the test's
    when absent.
    """
    out: dict = {"classification": {}, "retrieval": {}}
    betas = {}
    if val_scores is not None:
        usable = {m: v for m, v in val_scores.items() if m in test_scores}
        out["calibration"] = calibration_record(usable, val_labels, seen if val_seen is None else val_seen,
                                                rule=beta_rule, rows=val_rows)
        betas = out["calibration"]["beta"]
    for modality, d in test_scores.items():
        keep = test_rows[modality] if test_rows is not None else slice(None)
        d, labels = d[keep], test_labels[keep]
        cls = {"beta0": gzsl_classification(d, labels, seen)}
        if modality in betas:
            cls["calibrated"] = gzsl_classification(d, labels, seen, beta=betas[modality])
        out["classification"][modality] = cls
        ret = retrieval_map(d, labels, seen)
        out["retrieval"][modality] = {k: ret[k] for k in ("S", "U", "HM")}
    return out


def write_scores(path: str | os.PathLike, split: FeatureSplit, scores: dict[str, np.ndarray], *,
                 run_info: dict | None = None, epoch_rows: list[dict] | None = None) -> None:
    """One split's distances (+ the run's info and the per-epoch validation numbers, when given), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"distances_{m}": d for m, d in scores.items() if m != "attention_weight"}
    if "attention_weight" in scores:
        arrays["attention_weight"] = scores["attention_weight"]
    if run_info is not None:
        arrays["run_info"] = np.array(json.dumps(run_info, sort_keys=True))
    if epoch_rows:
        for column in EPOCH_COLUMNS:
            arrays[f"epochs_{column}"] = np.array([row[column] for row in epoch_rows])
    with atomic_output(path) as tmp, open(tmp, "wb") as handle:  # a file object: numpy adds no suffix
        np.savez_compressed(
            handle,
            clip_ids=np.array(split.clip_ids, dtype=str),
            class_names=np.array(split.classes.names, dtype=str),
            labels=split.labels.numpy(),
            seen=split.classes.seen,
            has_audio=split.has_audio.numpy(),
            has_video=split.has_video.numpy(),
            **arrays,
        )


class ScoresError(ValueError):
    """A scores.npz / val_scores.npz that cannot be recomputed from; the message names the file and the array."""


def read_scores(path: str | os.PathLike) -> dict:
    """A scores file's arrays, read as data only (avgzsl.formats.safe_npz) and checked to fit together."""
    path = Path(path)
    saved = read_npz(path, what="a scores .npz file", error=ScoresError)
    _check_scores(path, saved)
    return saved


def _array_problem(value: np.ndarray, kinds: str, shape: tuple) -> str:
    """Why `value` is not an array of dtype kind in `kinds` and shape `shape` ('' when it is)."""
    if value.dtype.kind not in kinds:
        return f"holds {value.dtype} values"
    if value.shape != shape:
        return f"has shape {value.shape}, expected {shape}"
    return ""


def _check_scores(path: Path, saved: dict) -> None:
    """The arrays metrics are computed from: present, of the right kinds, and of sizes that agree."""
    missing = [k for k in ("labels", "seen", "has_audio", "has_video") if k not in saved]
    if missing:
        raise ScoresError(f"{path}: lacks the array(s) {missing}; it is not a scores file written by avgzsl")
    labels, seen = saved["labels"], saved["seen"]
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ScoresError(f"{path}: 'labels' must be a 1-D integer array, got {labels.dtype} of shape {labels.shape}")
    if seen.ndim != 1 or seen.dtype.kind != "b":
        raise ScoresError(f"{path}: 'seen' must be a 1-D boolean array, got {seen.dtype} of shape {seen.shape}")
    n, c = len(labels), len(seen)
    if n and (labels.min() < 0 or labels.max() >= c):
        raise ScoresError(f"{path}: 'labels' holds {int(labels.min())} .. {int(labels.max())}, outside the "
                          f"{c} classes of 'seen'")
    wanted = {"has_audio": ("b", (n,)), "has_video": ("b", (n,))}
    wanted.update({k: ("f", (n, c)) for k in saved if k.startswith("distances_")})
    for key, (kinds, shape) in wanted.items():
        problem = _array_problem(saved[key], kinds, shape)
        if problem:
            raise ScoresError(f"{path}: '{key}' {problem} (one row per label, one column per class)")
    if "run_info" in saved:
        _check_run_info(path, saved["run_info"])


def _check_run_info(path: Path, value: np.ndarray) -> None:
    if value.shape != () or value.dtype.kind != "U":
        raise ScoresError(f"{path}: 'run_info' must be one JSON text, got {value.dtype} of shape {value.shape}")
    try:
        info = json.loads(str(value))
    except json.JSONDecodeError as err:
        raise ScoresError(f"{path}: 'run_info' is not valid JSON ({err.msg} at position {err.pos})") from None
    if not isinstance(info, dict):
        raise ScoresError(f"{path}: 'run_info' must be a JSON object, got a {type(info).__name__}")


def coverage(split: FeatureSplit) -> dict:
    return {
        "clips": len(split),
        "with_audio": int(split.has_audio.sum()),
        "with_video": int(split.has_video.sum()),
        "with_both": int((split.has_audio & split.has_video).sum()),
    }


def _distances(saved: dict) -> dict[str, np.ndarray]:
    return {k[len("distances_"):]: v for k, v in saved.items() if k.startswith("distances_")}


def _rows(saved: dict, policy: str) -> dict[str, np.ndarray]:
    return {m: scored_rows(m, saved["has_audio"], saved["has_video"], policy) for m in _distances(saved)}


def metrics_from_saved(test: dict, val: dict | None = None) -> dict:
    """metrics.json from the arrays of scores.npz and val_scores.npz (as read_scores returns them)."""
    if "run_info" not in test:
        raise ValueError("these scores carry no run_info: they were written before metrics could be recomputed "
                         "from saved scores (rerun the experiment)")
    info = json.loads(str(test["run_info"]))
    policy = info.get("missing_modality", "exclude")
    test_rows = _rows(test, policy)
    val_rows = _rows(val, policy) if val is not None else None
    metrics = evaluate_scores(
        _distances(test), test["labels"], test["seen"],
        val_scores=_distances(val) if val is not None else None,
        val_labels=val["labels"] if val is not None else None,
        test_rows=test_rows, val_rows=val_rows, val_seen=val["seen"] if val is not None else None,
        beta_rule=info.get("beta_rule") or protocol_beta_rule(info.get("protocol", "paper")),
    )
    metrics.update(info)
    metrics["scored"] = {"tst": {m: int(r.sum()) for m, r in test_rows.items()}}
    if val_rows is not None:
        metrics["scored"]["val"] = {m: int(r.sum()) for m, r in val_rows.items()}
    if "epochs" in info:  # a trained model: re-derive the epoch its validation numbers chose
        rows = []
        if val is not None and "epochs_epoch" in val:
            rows = [dict(zip(EPOCH_COLUMNS, values)) for values in
                    zip(*(val[f"epochs_{c}"].tolist() for c in EPOCH_COLUMNS))]
        selection = selection_record(rows, info.get("protocol", "paper"), info["epochs"], info.get("select_modality"))
        metrics["selected_epoch"], metrics["selection"] = selection["epoch"], selection
    return metrics


def recompute_run(run_dir: str | os.PathLike) -> dict:
    """A run's metrics.json, recomputed from its scores.npz (and val_scores.npz when it has one)."""
    run = Path(run_dir)
    if not _present(run / SCORES_FILE):
        raise FileNotFoundError(f"{run / SCORES_FILE} not found: is {run} a run folder (one seed of an experiment)?")
    val_path = run / VAL_SCORES_FILE  # present in any form (a folder, a link): read_scores says what is wrong
    return metrics_from_saved(read_scores(run / SCORES_FILE), read_scores(val_path) if _present(val_path) else None)


def _present(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def metrics_text(metrics: dict) -> str:
    """metrics.json's exact text: strict JSON, an undefined metric (NaN) written as null."""
    return json_text(metrics)


def write_run(out_dir: str | os.PathLike, test: FeatureSplit, test_scores: dict, *, run_info: dict,
              val: FeatureSplit | None = None, val_scores: dict | None = None,
              epoch_rows: list[dict] | None = None) -> dict:
    """Write scores.npz (+ val_scores.npz), then metrics.json computed from the files just written.

    run_info gains the numeric environment (avgzsl.runtime.numeric_env) the scores were computed in.
    """
    out = Path(out_dir)
    run_info = {**run_info, "numeric_environment": numeric_environment()}
    write_scores(out / SCORES_FILE, test, test_scores, run_info=run_info)
    if val is not None and val_scores is not None:
        write_scores(out / VAL_SCORES_FILE, val, val_scores, epoch_rows=epoch_rows)
    else:
        (out / VAL_SCORES_FILE).unlink(missing_ok=True)  # a stale file would change the recomputed numbers
    metrics = recompute_run(out)
    write_json(out / METRICS_FILE, metrics)  # metrics_text's bytes; warns about the metrics written as null
    return metrics


def summarize_seeds(metric_dicts: list[dict]) -> dict:
    """Mean, sample standard deviation (ddof = 1; 0 for one seed) and the 95 % t-interval half-width of the
    mean, of every numeric leaf over seeds."""
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
    out = {}
    for key, values in table.items():
        n = len(values)
        std = float(np.std(values, ddof=1)) if n > 1 else 0.0
        ci95 = float(stats.t.ppf(0.975, n - 1) * std / np.sqrt(n)) if n > 1 else 0.0
        out["/".join(key)] = {"mean": float(np.mean(values)), "std": std, "ci95": ci95, "n": n}
    return out
