"""DeViSE — deep visual-semantic embedding (Frome et al., NIPS 2013), as a linear map.

A linear map M takes a feature x into the text space; it is trained with the paper's hinge rank
loss over the seen classes,

    loss(x, y) = sum_{j seen, j != y} max(0, margin - t_y . M x + t_j . M x),

with the class vectors t normalised to unit length (the paper does this so that the dot product is
a cosine up to the scale of M x). The paper fine-tunes the whole visual network; here the extractor
networks stay frozen and only M is learned, which is how the baseline is used on precomputed
features. Distance = -(t_c . M x): the paper ranks classes by that dot product, and its negation
keeps "smaller = closer" for `avgzsl.evaluation.metrics`.

Optimiser: mini-batch Adam in torch (the paper used asynchronous SGD; Adam converges with far less
tuning on a linear model). Features are L2-normalised per row, like every input in this project.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from avgzsl.baselines._common import ZeroShotBaseline, fit_bilinear_sgd, l2_normalize, seen_columns


@dataclass
class DeviseConfig:
    margin: float = 0.1  # the paper's margin
    learning_rate: float = 1e-2
    weight_decay: float = 0.0
    epochs: int = 100
    batch_size: int = 256
    seed: int = 0
    normalize_features: bool = True


class DEVISE(ZeroShotBaseline):
    config_class = DeviseConfig
    label = "DEVISE"

    def __init__(self, config: DeviseConfig | None = None) -> None:
        super().__init__()
        self.config = config or DeviseConfig()
        self.weight_: np.ndarray | None = None  # (Dt, D)

    def _fit(self, x, labels, text, seen) -> None:
        cfg = self.config
        generator = torch.Generator().manual_seed(cfg.seed)
        feats = torch.from_numpy(self._prepare(x)).float()
        targets = torch.from_numpy(seen_columns(labels, seen))  # the loss only compares seen classes
        seen_text = torch.from_numpy(l2_normalize(text[seen])).float()

        def batch_loss(scores, y):  # scores (B, n_seen)
            true_score = scores.gather(1, y[:, None])
            hinge = (cfg.margin - true_score + scores).clamp(min=0.0)
            # the j == y term equals the margin for every row; it carries no gradient, so drop it
            hinge = hinge.scatter(1, y[:, None], 0.0)
            return hinge.sum(dim=1).mean()

        self.weight_ = fit_bilinear_sgd(
            feats, targets, seen_text, weight_shape=(text.shape[1], x.shape[1]),
            scores=lambda f, w, t: (f @ w.T) @ t.T, batch_loss=batch_loss,
            optimizer=lambda params: torch.optim.Adam(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay),
            epochs=cfg.epochs, batch_size=cfg.batch_size, generator=generator,
        )

    def embed(self, x: np.ndarray) -> np.ndarray:
        """(M, Dt) images M x of the features in the text space."""
        return self._prepare(np.asarray(x, dtype=np.float64)) @ self.weight_.T

    def _distances(self, x: np.ndarray) -> np.ndarray:
        return -(self.embed(x) @ l2_normalize(self.text_).T)
