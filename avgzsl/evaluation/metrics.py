"""Generalized zero-shot metrics computed from a distance matrix.

Every method in this project, deep or classical, ends in a (N clips x C classes)
distance matrix (smaller = closer). Classification, calibrated stacking and
retrieval are all read from it, so every system is scored by the same code.
Values are fractions in [0, 1]; tables multiply by 100.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score

BETA_GRID = np.linspace(0.0, 3.0, 16)  # AVCA-GZSL's calibration grid

# How a clip that lacks a modality is scored in that modality's row:
#   exclude         left out of the row (and counted in the run's `scored` coverage)
#   other_modality  scored by the modality it has (a clip without audio counts in the "audio" row by its video)
# The "both" row always scores a clip by the modalities it has; a clip with neither is left out under `exclude`.
MISSING_MODALITY = ("exclude", "other_modality")


def scored_rows(modality: str, has_audio: np.ndarray, has_video: np.ndarray, policy: str = "exclude") -> np.ndarray:
    """Boolean mask of the clips that count in `modality`'s row under the missing-modality `policy`."""
    if policy not in MISSING_MODALITY:
        raise ValueError(f"missing-modality policy {policy!r} is not one of {MISSING_MODALITY}")
    has_audio, has_video = np.asarray(has_audio, bool), np.asarray(has_video, bool)
    if policy == "other_modality":
        return np.ones_like(has_audio)
    return {"audio": has_audio, "video": has_video}.get(modality, has_audio | has_video)


def harmonic_mean(seen: float, unseen: float) -> float:
    return 0.0 if seen + unseen == 0 else 2.0 * seen * unseen / (seen + unseen)


def mean_class_accuracy(pred: np.ndarray, labels: np.ndarray, classes: np.ndarray | None = None) -> float:
    """Accuracy per class, averaged over `classes` that occur in `labels` (all occurring by default)."""
    pred, labels = np.asarray(pred), np.asarray(labels)
    present = np.unique(labels)
    if classes is not None:
        present = np.intersect1d(present, np.asarray(classes))
    if present.size == 0:
        return float("nan")
    return float(np.mean([(pred[labels == c] == c).mean() for c in present]))


def calibrated_predictions(distances: np.ndarray, seen: np.ndarray, beta: float = 0.0) -> np.ndarray:
    """argmin over classes after adding beta to seen-class distances (calibrated stacking)."""
    return np.argmin(distances + beta * np.asarray(seen, dtype=distances.dtype)[None, :], axis=1)


def gzsl_classification(distances: np.ndarray, labels: np.ndarray, seen: np.ndarray, *, beta: float = 0.0) -> dict:
    """S, U, HM (generalized: all classes are candidates) and ZSL (unseen candidates only)."""
    distances, labels, seen = np.asarray(distances), np.asarray(labels), np.asarray(seen, bool)
    pred = calibrated_predictions(distances, seen, beta)
    seen_ids, unseen_ids = np.flatnonzero(seen), np.flatnonzero(~seen)
    s = mean_class_accuracy(pred, labels, seen_ids)
    u = mean_class_accuracy(pred, labels, unseen_ids)
    unseen_rows = ~seen[labels]
    if unseen_rows.any() and unseen_ids.size:
        zsl_pred = unseen_ids[np.argmin(distances[np.ix_(unseen_rows, unseen_ids)], axis=1)]
        zsl = mean_class_accuracy(zsl_pred, labels[unseen_rows])
    else:
        zsl = float("nan")
    return {"S": s, "U": u, "HM": harmonic_mean(np.nan_to_num(s), np.nan_to_num(u)), "ZSL": zsl, "beta": float(beta)}


def choose_beta(distances: np.ndarray, labels: np.ndarray, seen: np.ndarray, grid=BETA_GRID) -> float:
    """The calibration that maximises HM (meant for validation data); ties go to the smaller beta."""
    scores = [gzsl_classification(distances, labels, seen, beta=b)["HM"] for b in grid]
    return float(grid[int(np.argmax(scores))])


def retrieval_map(distances: np.ndarray, labels: np.ndarray, seen: np.ndarray) -> dict:
    """Class text as query, all clips ranked by distance; mAP over seen and over unseen classes."""
    distances, labels, seen = np.asarray(distances), np.asarray(labels), np.asarray(seen, bool)
    ap = np.full(distances.shape[1], np.nan)
    for c in np.unique(labels):
        ap[c] = average_precision(labels == c, distances[:, c])
    s = float(np.nanmean(ap[seen])) if np.isfinite(ap[seen]).any() else float("nan")
    u = float(np.nanmean(ap[~seen])) if np.isfinite(ap[~seen]).any() else float("nan")
    return {"S": s, "U": u, "HM": harmonic_mean(np.nan_to_num(s), np.nan_to_num(u)), "per_class_ap": ap.tolist()}


def average_precision(relevant: np.ndarray, distances: np.ndarray) -> float:
    """AP of one ranking by ascending distance, as scikit-learn's average_precision_score.

    Tied distances form one threshold: every clip in a tie is retrieved together, so their
    order in the input does not matter (a stable sort would rank the earlier clip first).
    NaN when no clip is relevant.
    """
    relevant = np.asarray(relevant, bool)
    if not relevant.any():
        return float("nan")
    return float(average_precision_score(relevant, -np.asarray(distances, dtype=np.float64)))


def per_class_accuracy(distances: np.ndarray, labels: np.ndarray, n_classes: int, *, seen=None, beta=0.0) -> np.ndarray:
    """Accuracy of each class (NaN for classes with no test clip); the blocks of the Friedman test."""
    seen = np.zeros(n_classes, bool) if seen is None else np.asarray(seen, bool)
    pred = calibrated_predictions(np.asarray(distances), seen, beta)
    acc = np.full(n_classes, np.nan)
    for c in np.unique(labels):
        acc[c] = (pred[labels == c] == c).mean()
    return acc
