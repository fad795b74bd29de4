"""AVCA-GZSL's selection and calibration rules (`train.protocol: avca`), beside this project's own.

AVCA-GZSL (commit 2711aeb) trains in two stages and calibrates once:

* stage 1 trains on the train split and keeps the epoch with the best validation HM of "both", where
  "both" is the SUM of the audio and video distances for AVGZSLNet (their src/utils.py:269-273) and the
  attention mix for CJME, and the HM is taken at the val-best beta of that epoch (src/train.py:17-21,
  src/utils.py:111-118, 215-328; beta grid linspace(0, 3, 16), src/utils.py:221-225);
* stage 2 retrains from scratch on train + val and is read at the same epoch (get_evaluation.py:95-98);
* the test uses ONE beta for all three rows: the mean of the val-best betas of audio, video and both,
  computed with the stage-1 model (src/test.py:36-58).

The beta grid and tie rules (smallest beta, earliest epoch) are shared with `avgzsl.evaluation.metrics.choose_beta`.
"""

from __future__ import annotations

import numpy as np

from avgzsl.evaluation.metrics import BETA_GRID, choose_beta, gzsl_classification, scored_rows
from avgzsl.formats.feature_split import FeatureSplit

BETA_MODALITIES = ("audio", "video", "both")  # the rows whose val-best betas AVCA averages
BETA_RULES = ("per_modality", "mean_of_modalities")


def beta_rule(protocol: str) -> str:
    return "mean_of_modalities" if protocol == "avca" else "per_modality"


def calibration_record(
    val_scores: dict[str, np.ndarray], val_labels: np.ndarray, seen: np.ndarray, *, rule: str = "per_modality",
    rows: dict[str, np.ndarray] | None = None, grid=BETA_GRID,
) -> dict:
    """The beta each modality's row is calibrated with, from validation distances, and the val numbers behind it.

    per_modality: each row its own val-best beta. mean_of_modalities (AVCA): every row gets the mean of the
    val-best betas of whichever of audio, video and both are present. `rows` (modality -> boolean mask)
    limits each modality to the clips its row scores. Returns {"rule", "val_best_beta": per row, "beta": the
    beta each row is tested with, "val_HM": each row's val HM at that beta}.
    """
    if rule not in BETA_RULES:
        raise ValueError(f"unknown beta rule {rule!r}; valid: {BETA_RULES}")
    keep = {m: (rows[m] if rows is not None and m in rows else slice(None)) for m in val_scores}
    best = {m: choose_beta(d[keep[m]], val_labels[keep[m]], seen, grid) for m, d in val_scores.items()}
    used = dict(best)
    if rule == "mean_of_modalities":
        averaged = [best[m] for m in BETA_MODALITIES if m in best] or list(best.values())
        used = {m: float(np.mean(averaged)) for m in val_scores}
    val_hm = {m: gzsl_classification(d[keep[m]], val_labels[keep[m]], seen, beta=used[m])["HM"]
              for m, d in val_scores.items()}
    return {"rule": rule, "val_best_beta": best, "beta": used, "val_HM": val_hm}


def calibration_betas(
    val_scores: dict[str, np.ndarray], val_labels: np.ndarray, seen: np.ndarray, *, rule: str = "per_modality",
    rows: dict[str, np.ndarray] | None = None, grid=BETA_GRID,
) -> dict[str, float]:
    """The beta each modality's row is calibrated with (`calibration_record`'s "beta")."""
    return calibration_record(val_scores, val_labels, seen, rule=rule, rows=rows, grid=grid)["beta"]


def improves(score: float, best: float, protocol: str) -> bool:
    """Whether an epoch's validation score replaces the best so far (strict: the earliest of equals wins).

    AVCA's check_best_score tests `if not best_score`, so a best of exactly 0 is replaced by any later epoch
    (their src/utils.py:112-114); that is kept under the avca protocol.
    """
    if protocol == "avca" and best <= 0:
        return True
    return score > best


# --- epoch selection: the validation numbers of the row the run reports ---


def validation_metrics(distances: np.ndarray, split: FeatureSplit, modality: str, missing_modality: str) -> dict:
    """val HM at beta = 0, the val-best beta and its HM, over the clips `modality`'s reported row scores."""
    rows = scored_rows(modality, split.has_audio.numpy(), split.has_video.numpy(), missing_modality)
    d, labels, seen = distances[rows], split.labels.numpy()[rows], split.classes.seen
    beta = choose_beta(d, labels, seen)
    return {
        "val_hm": gzsl_classification(d, labels, seen)["HM"],
        "val_hm_calibrated": gzsl_classification(d, labels, seen, beta=beta)["HM"],
        "val_beta": beta,
    }


def selection_metric(protocol: str) -> str:
    """The per-epoch validation number an epoch is chosen by: calibrated val HM (at that epoch's val-best beta)
    under the avca protocol, val HM at beta = 0 otherwise."""
    return "val_hm_calibrated" if protocol == "avca" else "val_hm"


def selection_score(row: dict, protocol: str) -> float:
    return row[selection_metric(protocol)]


def selected_epoch(rows: list[dict], protocol: str, epochs: int) -> int:
    """The epoch train_model keeps, re-derived from its per-epoch validation rows (the earliest of equal scores);
    the last epoch when no row has validation numbers."""
    best, chosen = -1.0, epochs
    for row in rows:
        score = selection_score(row, protocol)
        if improves(score, best, protocol):
            best, chosen = score, int(row["epoch"])
    return chosen


def selection_record(rows: list[dict], protocol: str, epochs: int, modality: str | None = None) -> dict:
    """The epoch kept and the validation numbers that chose it (metrics.json's `selection`): `by` names the
    number compared across epochs (None: no validation, the last epoch kept), `row` the test modality it was
    measured on, and val_hm / val_hm_calibrated / val_beta are the selected epoch's."""
    epoch = selected_epoch(rows, protocol, epochs)
    record: dict = {"epoch": epoch, "by": None, "epochs_validated": len(rows)}
    if modality is not None:
        record["row"] = modality
    chosen = [row for row in rows if int(row["epoch"]) == epoch]
    if chosen:
        record["by"] = selection_metric(protocol)
        record.update({k: float(chosen[0][k]) for k in ("val_hm", "val_hm_calibrated", "val_beta")})
    return record
