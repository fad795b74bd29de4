"""SAE — semantic autoencoder (Kodirov, Xiang & Gong, CVPR 2017).

The encoder W (k x d) maps a feature into the semantic space and its transpose decodes back:

    min_W ||X - W^T S||^2 + lambda ||W X - S||^2,

with X (d x N) the training features as columns and S (k x N) the class vector of each row's
label. Setting the gradient to zero gives the Sylvester equation

    (S S^T) W + W (lambda X X^T) = (1 + lambda) S X^T,

solved exactly with `scipy.linalg.solve_sylvester` (Bartels-Stewart), no iterations.

Testing follows the paper in either space (`test_space`): "semantic" encodes a clip, W x, and
compares it with every class vector; "feature" decodes every class vector, W^T s_c, and compares it
with the clip. Both use cosine distance, as the authors' evaluation does.

Normalisation: features are L2-normalised per row, as in the authors' released code. Two further
steps, both on by default and switchable in the config:
- class vectors are L2-normalised too, so the two terms of the objective are on one scale and
  lambda keeps the meaning it had in the paper (whose features and attributes were both unit
  scale); raw word vectors have norms of 5-10 and would silently re-weight the terms;
- features are centred on the seen training mean before normalising. The paper's attributes are
  non-negative like CNN activations, so the features' common mean has a semantic counterpart;
  word vectors are roughly zero-mean, and the decoder term then pushes the feature mean into
  every code, which makes all clips look alike (observed: every unseen clip assigned one class).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import solve_sylvester

from avgzsl.baselines._common import ZeroShotBaseline, cosine_distances, l2_normalize

TEST_SPACES = ("semantic", "feature")


def sae_closed_form(features: np.ndarray, semantics: np.ndarray, lam: float) -> np.ndarray:
    """Encoder W (k, d) from row-major features (N, d) and per-row semantic vectors (N, k)."""
    x = np.asarray(features, dtype=np.float64).T  # d x N, the paper's layout
    s = np.asarray(semantics, dtype=np.float64).T  # k x N
    return solve_sylvester(s @ s.T, lam * (x @ x.T), (1.0 + lam) * (s @ x.T))


@dataclass
class SaeConfig:
    lam: float = 0.2  # the paper's lambda; 0.2 was its choice on AwA
    test_space: str = "semantic"  # "semantic" (W x vs s_c) or "feature" (x vs W^T s_c)
    normalize_features: bool = True
    center_features: bool = True  # subtract the seen training mean first (see module docstring)
    normalize_text: bool = True


class SAE(ZeroShotBaseline):
    config_class = SaeConfig
    label = "SAE"

    def __init__(self, config: SaeConfig | None = None) -> None:
        super().__init__()
        self.config = config or SaeConfig()
        if self.config.test_space not in TEST_SPACES:
            raise ValueError(f"test_space must be one of {TEST_SPACES}; got {self.config.test_space!r}")
        if self.config.lam <= 0:
            raise ValueError(f"lam must be > 0; got {self.config.lam}")
        self.weight_: np.ndarray | None = None  # (k, d)
        self.feature_mean_: np.ndarray | None = None

    def _prepare(self, x: np.ndarray) -> np.ndarray:
        return super()._prepare(x - self.feature_mean_)

    def _semantics(self, text: np.ndarray) -> np.ndarray:
        return l2_normalize(text) if self.config.normalize_text else text

    def _fit(self, x, labels, text, seen) -> None:
        self.feature_mean_ = x.mean(axis=0) if self.config.center_features else np.zeros(x.shape[1])
        self.weight_ = sae_closed_form(self._prepare(x), self._semantics(text)[labels], self.config.lam)

    def encode(self, x: np.ndarray) -> np.ndarray:
        """(M, k) semantic-space codes W x."""
        return self._prepare(np.asarray(x, dtype=np.float64)) @ self.weight_.T

    def _distances(self, x: np.ndarray) -> np.ndarray:
        semantics = self._semantics(self.text_)
        if self.config.test_space == "semantic":
            return cosine_distances(self.encode(x), semantics)
        decoded_classes = semantics @ self.weight_  # (C, d): W^T s_c for every class
        return cosine_distances(self._prepare(x), decoded_classes)
