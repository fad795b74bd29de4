"""ESZSL — embarrassingly simple zero-shot learning (Romera-Paredes & Torr, ICML 2015).

A bilinear compatibility x^T V s between a feature x (d) and a class signature s (a), with the
closed form of the paper's regularised squared loss over the seen classes:

    V = (X X^T + gamma I)^-1  X Y S^T  (S S^T + lambda I)^-1

X (d x N) holds the training features as columns, Y (N x Z) is +1 for a row's own seen class and -1
for every other seen class (the paper's coding), S (a x Z) the seen class vectors as columns.
Score = x^T V s_c for every class, seen or unseen; distance = -score.

Features are L2-normalised per row (the project's input convention; the paper does not fix one),
which puts gamma on a comparable scale for every extractor. Class vectors are L2-normalised too:
the score is linear in s_c, so an unnormalised word vector's length (a corpus-frequency artefact,
not meaning) would let long-vector classes win every unseen-class decision.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avgzsl.baselines._common import ZeroShotBaseline, l2_normalize, seen_columns


def eszsl_closed_form(
    features: np.ndarray, targets: np.ndarray, signatures: np.ndarray, gamma: float, lam: float
) -> np.ndarray:
    """V (d, a) from features (N, d), the +-1 target matrix (N, Z) and seen signatures (Z, a)."""
    x = np.asarray(features, dtype=np.float64).T  # d x N
    s = np.asarray(signatures, dtype=np.float64).T  # a x Z
    left = np.linalg.solve(x @ x.T + gamma * np.eye(x.shape[0]), x @ targets @ s.T)  # d x a
    # right-multiplying by a symmetric inverse equals solving the transposed system
    return np.linalg.solve(s @ s.T + lam * np.eye(s.shape[0]), left.T).T


@dataclass
class EszslConfig:
    gamma: float = 1.0  # ridge on the feature side (the paper searches 10^-3 .. 10^3)
    lam: float = 1.0  # ridge on the signature side
    normalize_features: bool = True
    normalize_text: bool = True


class ESZSL(ZeroShotBaseline):
    config_class = EszslConfig
    label = "ESZSL"

    def __init__(self, config: EszslConfig | None = None) -> None:
        super().__init__()
        self.config = config or EszslConfig()
        self.weight_: np.ndarray | None = None  # (d, a)

    def _signatures(self) -> np.ndarray:
        return l2_normalize(self.text_) if self.config.normalize_text else self.text_

    def _fit(self, x, labels, text, seen) -> None:
        seen_ids = np.flatnonzero(seen)
        targets = -np.ones((x.shape[0], seen_ids.size))
        targets[np.arange(x.shape[0]), seen_columns(labels, seen)] = 1.0
        signatures = self._signatures()[seen_ids]
        self.weight_ = eszsl_closed_form(self._prepare(x), targets, signatures, self.config.gamma, self.config.lam)

    def scores(self, x: np.ndarray) -> np.ndarray:
        """(M, C) compatibilities x^T V s_c."""
        return self._prepare(np.asarray(x, dtype=np.float64)) @ self.weight_ @ self._signatures().T

    def _distances(self, x: np.ndarray) -> np.ndarray:
        return -self.scores(x)
