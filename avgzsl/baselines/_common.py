"""Shared contract of the classical baselines: input checks, fitted state, distance helpers.

Every baseline learns from seen-class training rows only and then scores clips against the text
vectors of *all* classes, returning an (M x C) distance matrix (smaller = closer). That matrix is
what `avgzsl.evaluation.metrics` reads, so the baselines are scored by exactly the code that scores the deep
models. The seen-only check is enforced here, once, rather than trusted to each method: a single
unseen-class row in training would silently turn a zero-shot number into a supervised one.
"""

from __future__ import annotations

import abc
from dataclasses import asdict
from typing import Any, Callable

import numpy as np

_EPS = 1e-12


def l2_normalize(a: np.ndarray, axis: int = 1) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    norm = np.linalg.norm(a, axis=axis, keepdims=True)
    # a zero row (a missing modality is stored as zeros) must stay zero rather than become NaN
    return a / np.maximum(norm, _EPS)


def cosine_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """1 - cosine similarity between the rows of `a` (M, D) and the rows of `b` (C, D)."""
    return 1.0 - l2_normalize(a) @ l2_normalize(b).T


def check_training_inputs(x, labels, text, seen) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate the common `fit` arguments and return them as float64 / int64 / bool arrays."""
    x = np.asarray(x, dtype=np.float64)
    labels = np.asarray(labels)
    text = np.asarray(text, dtype=np.float64)
    seen = np.asarray(seen)
    if x.ndim != 2:
        raise ValueError(f"x must be 2-d (N, D); got shape {x.shape}")
    if text.ndim != 2:
        raise ValueError(f"text must be 2-d (C, Dt); got shape {text.shape}")
    if seen.shape != (text.shape[0],):
        raise ValueError(f"seen must have one flag per class ({text.shape[0]}); got shape {seen.shape}")
    if seen.dtype != bool:
        raise ValueError(f"seen must be a boolean mask; got dtype {seen.dtype}")
    if labels.shape != (x.shape[0],):
        raise ValueError(f"labels must have one entry per row of x ({x.shape[0]}); got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integer class indices; got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= text.shape[0]):
        raise ValueError(f"labels must index the {text.shape[0]} classes; got range [{labels.min()}, {labels.max()}]")
    if not (np.isfinite(x).all() and np.isfinite(text).all()):
        raise ValueError("x and text must be finite (no NaN/inf)")
    unseen_rows = ~seen[labels]
    if unseen_rows.any():
        bad = sorted(set(labels[unseen_rows].tolist()))
        raise ValueError(
            f"{int(unseen_rows.sum())} training row(s) belong to unseen class(es) {bad}; "
            "baselines must be fitted on seen-class rows only"
        )
    if np.unique(labels).size < 2:
        raise ValueError("training needs rows of at least two seen classes")
    return x, labels.astype(np.int64), text, seen


def seen_columns(labels: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Class index -> its column among the seen classes, for labels that are all seen."""
    return np.searchsorted(np.flatnonzero(seen), labels)


class ZeroShotBaseline(abc.ABC):
    """fit on seen-class rows, then `distances` to every class (seen and unseen).

    The interface a classical method meets (a user's own too, named `package.module:Class` or through the
    `avgzsl.baselines` entry point; docs/METHODS.md): `config_class`, a dataclass of its settings (the
    experiment's `options`); `_fit(x, labels, text, seen)` on one modality's seen-class rows;
    `_distances(x) -> (M, C)`. One instance is fitted per reported modality. A method that learns from the
    modalities together sets `joint = True` and implements `fit_modalities` / `modality_distances` instead.
    """

    config: Any
    config_class: type  # the method's config dataclass; create_baseline builds it from overrides
    label: str = ""  # its name in tables and figures (empty: the registry name, upper-cased)
    test_modalities: tuple[str, ...] = ("video",)  # the rows it reports; Table 1 runs the classical ones on video
    joint: bool = False  # True: one fit on all modalities (fit_modalities / modality_distances)

    def fit_modalities(self, x: dict, labels: np.ndarray, class_text: np.ndarray, seen: np.ndarray):
        raise NotImplementedError(f"{type(self).__name__} sets joint = True but defines no fit_modalities")

    def modality_distances(self, x: dict, modality: str) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} sets joint = True but defines no modality_distances")

    def __init__(self) -> None:
        self.text_: np.ndarray | None = None
        self.seen_: np.ndarray | None = None
        self.input_dim_: int | None = None

    def fit(self, x: np.ndarray, labels: np.ndarray, text: np.ndarray, seen: np.ndarray) -> "ZeroShotBaseline":
        x, labels, text, seen = check_training_inputs(x, labels, text, seen)
        self.text_, self.seen_, self.input_dim_ = text, seen, x.shape[1]
        self._fit(x, labels, text, seen)
        return self

    def distances(self, x: np.ndarray) -> np.ndarray:
        """(M, C) distances from each row of x to every class; smaller = closer."""
        if self.text_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit() first")
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.input_dim_:
            raise ValueError(f"x must have shape (M, {self.input_dim_}); got {x.shape}")
        return np.asarray(self._distances(x), dtype=np.float64)

    def get_config(self) -> dict:
        return asdict(self.config)

    def _prepare(self, x: np.ndarray) -> np.ndarray:
        """Features as the method sees them: L2-normalised rows unless the config says otherwise."""
        return l2_normalize(x) if self.config.normalize_features else x

    @abc.abstractmethod
    def _fit(self, x: np.ndarray, labels: np.ndarray, text: np.ndarray, seen: np.ndarray) -> None: ...

    @abc.abstractmethod
    def _distances(self, x: np.ndarray) -> np.ndarray: ...


def fit_bilinear_sgd(
    feats,
    targets,
    seen_text,
    *,
    weight_shape: tuple[int, int],
    scores: Callable,
    batch_loss: Callable,
    optimizer: Callable,
    epochs: int,
    batch_size: int,
    generator,
) -> np.ndarray:
    """Mini-batch training of one linear map scored against the seen-class text vectors (DEVISE, ALE).

    `scores(feats_batch, weight, seen_text) -> (B, n_seen)`, `batch_loss(scores, targets_batch) -> scalar`,
    `optimizer([weight]) -> torch optimizer`. The weight starts as N(0, 1 / D) with D the feature dimension.
    """
    import torch

    weight = torch.zeros(weight_shape)
    torch.nn.init.normal_(weight, std=1.0 / np.sqrt(feats.shape[1]), generator=generator)
    weight.requires_grad_(True)
    opt = optimizer([weight])
    for _ in range(epochs):
        order = torch.randperm(len(feats), generator=generator)
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            loss = batch_loss(scores(feats[batch], weight, seen_text), targets[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return weight.detach().double().numpy()
