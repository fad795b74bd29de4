"""Generalised CCA, MAXVAR form (Horst 1961; Carroll 1968), for cross-modal retrieval.

Each training clip contributes one row to every view: its audio feature, its video feature and the
text vector of its class (the paper's three views). With each view X_j (N x D_j) centred and
C_j = X_j^T X_j + r_j I, MAXVAR seeks a shared representation G (N x k, G^T G = I) that the views
jointly predict best; the solution is the top-k eigenvectors of the sum of the views' (ridge)
projection matrices,

    M = sum_j X_j C_j^-1 X_j^T,

and view j maps into the shared space with U_j = C_j^-1 X_j^T G (its least-squares fit of G).

M is N x N, far too large for AudioSetZSL (72k seen training clips), so it is never formed:
M = Z Z^T with Z = [X_1 C_1^-1/2, ..., X_J C_J^-1/2], whose nonzero eigenpairs follow from the
(sum D_j)-square matrix Z^T Z = [C_i^-1/2 X_i^T X_j C_j^-1/2]_ij, built from the views'
cross-products X_i^T X_j only. An eigenvector v of Z^T Z with eigenvalue mu gives the eigenvector
G = Z v / sqrt(mu) of M; memory stays at one float64 copy of the views plus D x D matrices.

r_j = regularization * trace(X_j^T X_j) / D_j: relative, so one value suits views of any scale; it
is needed because the text view has rank <= (number of seen classes) whatever its dimension.

Retrieval: clips and class text vectors are projected with their own view's U_j and compared in
the shared space (Euclidean by default, the project's distance; "cosine" optional). With audio and
video both given, the distance is the mean of the two, as for the deep models' "both" setting.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from avgzsl.baselines._common import ZeroShotBaseline, check_training_inputs, cosine_distances

METRICS = ("euclidean", "cosine")


def _inverse_sqrt(sym: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(sym)
    return (vectors / np.sqrt(values)) @ vectors.T


def euclidean_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    squared = (a * a).sum(1)[:, None] - 2.0 * a @ b.T + (b * b).sum(1)[None, :]
    return np.sqrt(np.maximum(squared, 0.0))  # rounding can push an exact zero slightly negative


@dataclass
class GccaConfig:
    # shared dimension k; None = (number of seen classes - 1), the rank of the centred text view:
    # class text can only reach that many directions, and further components are clip-only
    # variation that adds per-clip noise to text-to-clip distances
    n_components: int | None = None
    regularization: float = 1e-3  # relative ridge r_j (see module docstring)
    metric: str = "euclidean"  # "euclidean" or "cosine" in the shared space
    text_view: int = -1  # position of the class-text view in fit_views
    modality: str = "audio"  # what `x` is in the common fit/distances interface (recorded only)


class GCCA(ZeroShotBaseline):
    config_class = GccaConfig
    label = "GCCA"
    test_modalities = ("audio", "video", "both")  # a retrieval system of Table 2: audio, video and the two together
    joint = True

    def __init__(self, config: GccaConfig | None = None) -> None:
        super().__init__()
        self.config = config or GccaConfig()
        if self.config.metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}; got {self.config.metric!r}")
        if (self.config.n_components is not None and self.config.n_components < 1) or self.config.regularization <= 0:
            raise ValueError("n_components must be None or >= 1, and regularization > 0")
        self.means_: list[np.ndarray] = []
        self.projections_: list[np.ndarray] = []  # U_j, (D_j, k)
        self.eigenvalues_: np.ndarray | None = None  # of M, in [0, number of views]
        self.shared_: np.ndarray | None = None  # G, (N, k), orthonormal columns

    # ---- multi-view API --------------------------------------------------------------------
    def fit_views(
        self,
        views: Sequence[np.ndarray],
        labels: np.ndarray,
        seen: np.ndarray,
        *,
        class_text: np.ndarray | None = None,
    ) -> "GCCA":
        """Fit on aligned views (one row per training clip, all seen-class clips).

        `class_text` (C, Dt), when given, is kept for `retrieval_distances` and checked against the
        text view: row i of that view must be the text vector of labels[i].
        """
        if len(views) < 2:
            raise ValueError(f"GCCA needs at least two views; got {len(views)}")
        views = [np.asarray(v) for v in views]
        text_for_check = np.zeros((len(np.asarray(seen)), 1)) if class_text is None else class_text
        _, labels, class_text_checked, seen = check_training_inputs(views[0], labels, text_for_check, seen)
        for j, view in enumerate(views):
            if view.ndim != 2 or view.shape[0] != labels.shape[0]:
                raise ValueError(f"view {j} must be 2-d with {labels.shape[0]} rows; got {view.shape}")
            if not np.isfinite(view).all():
                raise ValueError(f"view {j} has NaN/inf values")
        if class_text is not None:
            text_view = views[self.config.text_view]
            if text_view.shape[1] != class_text_checked.shape[1] or not np.allclose(
                text_view, class_text_checked[labels]
            ):
                raise ValueError("the text view's rows are not the class text vectors of their labels")
            self.text_ = class_text_checked
        self.seen_, self.input_dim_ = seen, views[0].shape[1]
        self._fit_maxvar(views, n_seen_classes=np.unique(labels).size)
        return self

    def _fit_maxvar(self, views: list[np.ndarray], n_seen_classes: int) -> None:
        self.means_ = [v.mean(axis=0, dtype=np.float64) for v in views]
        # float64 centred copies; the inputs (often float32) are left untouched
        centred = [np.asarray(v, dtype=np.float64) - m for v, m in zip(views, self.means_)]
        n_views = len(centred)
        cross = [[None] * n_views for _ in range(n_views)]  # X_i^T X_j, the only N-sized products
        for i in range(n_views):
            for j in range(i, n_views):
                cross[i][j] = centred[i].T @ centred[j]
                cross[j][i] = cross[i][j].T
        ridges = [
            self.config.regularization * max(np.trace(cross[j][j]) / cross[j][j].shape[0], 1e-12)
            for j in range(n_views)
        ]
        inv_sqrt = [_inverse_sqrt(cross[j][j] + ridges[j] * np.eye(cross[j][j].shape[0])) for j in range(n_views)]
        gram = np.block([[inv_sqrt[i] @ cross[i][j] @ inv_sqrt[j] for j in range(n_views)] for i in range(n_views)])
        values, vectors = np.linalg.eigh(gram)  # Z^T Z with Z_j = X_j C_j^-1/2
        order = np.argsort(values)[::-1]
        values, vectors = values[order], vectors[:, order]
        rank = int((values > values[0] * 1e-10).sum())
        k = self.config.n_components if self.config.n_components is not None else max(n_seen_classes - 1, 1)
        k = min(k, rank, centred[0].shape[0])
        values, vectors = values[:k], vectors[:, :k]

        blocks = np.split(vectors, np.cumsum([c.shape[1] for c in centred])[:-1], axis=0)
        # G = Z v / sqrt(mu) = sum_j X_j coef_j with coef_j = C_j^-1/2 v_j / sqrt(mu)
        coef = [w @ b / np.sqrt(values) for w, b in zip(inv_sqrt, blocks)]
        self.eigenvalues_ = values
        self.shared_ = sum(c @ w for c, w in zip(centred, coef))
        # U_j = C_j^-1 X_j^T G = C_j^-1 sum_i (X_j^T X_i) coef_i, again from the cross-products
        self.projections_ = [
            inv_sqrt[j] @ inv_sqrt[j] @ sum(cross[j][i] @ coef[i] for i in range(n_views)) for j in range(n_views)
        ]

    def transform(self, view_index: int, x: np.ndarray) -> np.ndarray:
        """(M, k) shared-space coordinates of rows of view `view_index`."""
        if not self.projections_:
            raise RuntimeError("GCCA is not fitted; call fit_views() or fit() first")
        x = np.asarray(x, dtype=np.float64)
        mean = self.means_[view_index]
        if x.ndim != 2 or x.shape[1] != mean.shape[0]:
            raise ValueError(f"view {view_index} expects shape (M, {mean.shape[0]}); got {x.shape}")
        return (x - mean) @ self.projections_[view_index]

    def retrieval_distances(
        self, clip_views: Mapping[int, np.ndarray], class_text: np.ndarray | None = None
    ) -> np.ndarray:
        """(M, C) distances from projected clips to projected class text vectors.

        `clip_views` maps a view index (e.g. 0 audio, 1 video) to that view's rows of the same M
        clips; with several views the distances are averaged.
        """
        class_text = self.text_ if class_text is None else np.asarray(class_text, dtype=np.float64)
        if class_text is None:
            raise ValueError("no class text vectors: pass class_text here or to fit_views")
        if not clip_views:
            raise ValueError("clip_views is empty: give at least one clip view")
        text_index = self.config.text_view % len(self.projections_)
        if any(i % len(self.projections_) == text_index for i in clip_views):
            raise ValueError(f"view {self.config.text_view} is the text view, not a clip view")
        anchors = self.transform(text_index, class_text)
        measure = euclidean_distances if self.config.metric == "euclidean" else cosine_distances
        return np.mean([measure(self.transform(i, x), anchors) for i, x in clip_views.items()], axis=0)

    # ---- the pipeline's joint interface: views audio (0), video (1) and each clip's class text (2) ----
    VIEWS = {"audio": {"audio": 0}, "video": {"video": 1}, "both": {"audio": 0, "video": 1}}

    def fit_modalities(self, x: dict, labels: np.ndarray, class_text: np.ndarray, seen: np.ndarray) -> "GCCA":
        return self.fit_views([x["audio"], x["video"], class_text[labels]], labels, seen, class_text=class_text)

    def modality_distances(self, x: dict, modality: str) -> np.ndarray:
        return self.retrieval_distances({index: x[name] for name, index in self.VIEWS[modality].items()})

    # ---- common baseline interface: two views, (x, class text) ----------------------------
    def _fit(self, x, labels, text, seen) -> None:
        if self.config.text_view not in (1, -1):
            raise ValueError(
                f"fit() builds the views [x, text]; text_view must be 1 or -1, not {self.config.text_view}"
            )
        self.fit_views([x, text[labels]], labels, seen, class_text=text)

    def _distances(self, x: np.ndarray) -> np.ndarray:
        return self.retrieval_distances({0: x})
