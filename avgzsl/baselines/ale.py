"""ALE — attribute label embedding (Akata et al., CVPR 2013 / TPAMI 2016).

A bilinear compatibility F(x, c) = theta(x)^T W phi(c) between a feature and a class embedding,
trained with the paper's weighted approximate ranking objective over the seen classes:

    loss(x, y) = (l_r / r) * sum_{c seen} max(0, Delta(y, c) + F(x, c) - F(x, y))

with Delta the 0/1 loss, r the number of seen classes that violate the margin (the rank of the
true class, counted from the top) and l_r = sum_{i<=r} 1/i, the harmonic weight that makes the
objective focus on the top of the ranking (WSABIE/WARP weighting). Distance = -F.

Choice: the paper estimates r by sampling classes until one violates the margin, because its label
sets are large. Here the seen classes are few (23 on AudioSetZSL), so r is counted exactly over
all of them in each mini-batch; the weight is held constant inside a step, as in the paper, where
it only scales the hinge gradient. theta(x) is the L2-normalised feature and phi(c) the
L2-normalised class vector (the paper normalises its embeddings). Optimiser: mini-batch SGD with
momentum in torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from avgzsl.baselines._common import ZeroShotBaseline, fit_bilinear_sgd, l2_normalize, seen_columns


def rank_weights(n_violations: torch.Tensor) -> torch.Tensor:
    """l_r / r for r violations (0 where r = 0, where the hinge sum is zero anyway)."""
    r_max = int(n_violations.max().item()) if n_violations.numel() else 0
    harmonic = torch.cat([torch.zeros(1), torch.cumsum(1.0 / torch.arange(1, r_max + 1, dtype=torch.float32), 0)])
    r = n_violations.long()
    return harmonic[r] / r.clamp(min=1).float()


@dataclass
class AleConfig:
    learning_rate: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 0.0
    epochs: int = 100
    batch_size: int = 256
    seed: int = 0
    normalize_features: bool = True


class ALE(ZeroShotBaseline):
    config_class = AleConfig
    label = "ALE"

    def __init__(self, config: AleConfig | None = None) -> None:
        super().__init__()
        self.config = config or AleConfig()
        self.weight_: np.ndarray | None = None  # (d, Dt)

    def _fit(self, x, labels, text, seen) -> None:
        cfg = self.config
        generator = torch.Generator().manual_seed(cfg.seed)
        feats = torch.from_numpy(self._prepare(x)).float()
        targets = torch.from_numpy(seen_columns(labels, seen))
        seen_text = torch.from_numpy(l2_normalize(text[seen])).float()

        def batch_loss(compat, y):  # compat (B, n_seen)
            true = compat.gather(1, y[:, None])
            delta = torch.ones_like(compat).scatter(1, y[:, None], 0.0)
            hinge = (delta + compat - true).clamp(min=0.0)
            weights = rank_weights((hinge > 0).sum(dim=1)).detach()
            return (weights * hinge.sum(dim=1)).mean()

        self.weight_ = fit_bilinear_sgd(
            feats, targets, seen_text, weight_shape=(x.shape[1], text.shape[1]),
            scores=lambda f, w, t: f @ w @ t.T, batch_loss=batch_loss,
            optimizer=lambda params: torch.optim.SGD(
                params, lr=cfg.learning_rate, momentum=cfg.momentum, weight_decay=cfg.weight_decay
            ),
            epochs=cfg.epochs, batch_size=cfg.batch_size, generator=generator,
        )

    def compatibility(self, x: np.ndarray) -> np.ndarray:
        """(M, C) F(x, c) for every class."""
        return self._prepare(np.asarray(x, dtype=np.float64)) @ self.weight_ @ l2_normalize(self.text_).T

    def _distances(self, x: np.ndarray) -> np.ndarray:
        return -self.compatibility(x)
