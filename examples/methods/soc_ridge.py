"""Semantic output codes as a classical baseline written outside avgzsl against its baseline interface.

Palatucci, Pomerleau, Hinton and Mitchell, "Zero-shot learning with semantic output codes", NIPS 2009: a
linear map from features to the semantic space, fitted by ridge regression on the seen classes' clips, and a
clip takes the class whose semantic vector is nearest to its mapped features. Here the semantic space is the
classes' word vectors and "nearest" is cosine distance.

Run it with `baseline: soc_ridge:SOC` and this folder on PYTHONPATH (docs/METHODS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avgzsl.baselines import ZeroShotBaseline, cosine_distances, l2_normalize


@dataclass
class SOCConfig:
    ridge: float = 1.0  # lambda of the ridge regression
    normalize_features: bool = True  # L2-normalise feature rows (`ZeroShotBaseline._prepare`)


class SOC(ZeroShotBaseline):
    config_class = SOCConfig
    label = "SOC"
    test_modalities = ("audio", "video")

    def __init__(self, config: SOCConfig | None = None) -> None:
        super().__init__()
        self.config = config or SOCConfig()
        self.weights_: np.ndarray | None = None  # (D, Dt)

    def _fit(self, x, labels, text, seen) -> None:
        x = self._prepare(x)  # (N, D)
        targets = l2_normalize(text)[labels]  # (N, Dt): each clip's class word vector
        gram = x.T @ x + self.config.ridge * np.eye(x.shape[1])
        self.weights_ = np.linalg.solve(gram, x.T @ targets)

    def _distances(self, x) -> np.ndarray:
        return cosine_distances(self._prepare(x) @ self.weights_, self.text_)  # (M, C)
