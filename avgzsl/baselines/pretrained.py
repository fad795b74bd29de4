"""The "pre-trained model" retrieval baseline of the paper's Table 2.

The paper: "This model uses the features produced by the pre-trained networks (used to extract the
initial features for our method) to perform retrieval", i.e. nothing is trained — the class-label
word vector is compared directly with the extractor features. That is only literally possible
where the dimensions agree, and here they do not (1024-d audio/video features, 300-d word vectors).

Interpretation chosen (`dimension_match="zero_pad"`, the default): the shorter vector is padded
with zeros to the longer one's length, both are L2-normalised (the project's input convention) and
compared by Euclidean distance. For unit vectors that ranks exactly like the cosine of the shared
leading coordinates, scaled by the full norms. Nothing is fitted and no information about how
features relate to classes enters — which is the point of the baseline: the two spaces are not
aligned, so retrieval is near chance (the paper reports 2-4 % mAP, about the class prevalence).

Why not build class prototypes in feature space: an unseen class has no training clips, so its
prototype could only come from its text, which needs a text-to-feature map — a trained model, not
the pre-trained features. That alternative is still offered as `dimension_match="least_squares"`
(a ridge regression from class text to features fitted on seen-class rows, every class's text then
mapped into feature space) for readers who want an aligned-but-linear reference; it is a different,
stronger baseline and should be reported as such. `"truncate"` keeps only the first min(D, Dt)
coordinates of both instead of padding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avgzsl.baselines._common import ZeroShotBaseline, l2_normalize
from avgzsl.baselines.gcca import euclidean_distances

DIMENSION_MATCHES = ("zero_pad", "truncate", "least_squares")


def _fit_width(a: np.ndarray, width: int) -> np.ndarray:
    """Zero-pad or truncate the columns of `a` to `width`."""
    if a.shape[1] >= width:
        return a[:, :width]
    return np.pad(a, ((0, 0), (0, width - a.shape[1])))


@dataclass
class PretrainedConfig:
    dimension_match: str = "zero_pad"  # "zero_pad" | "truncate" | "least_squares" (see docstring)
    normalize: bool = True
    ridge: float = 1e-3  # least_squares only: relative ridge on the text Gram matrix


class PretrainedFeatures(ZeroShotBaseline):
    config_class = PretrainedConfig
    label = "pre-trained"
    test_modalities = ("audio", "video")  # a retrieval system of Table 2, on audio and on video

    def __init__(self, config: PretrainedConfig | None = None) -> None:
        super().__init__()
        self.config = config or PretrainedConfig()
        if self.config.dimension_match not in DIMENSION_MATCHES:
            raise ValueError(f"dimension_match must be one of {DIMENSION_MATCHES}; got {self.config.dimension_match!r}")
        self.class_anchors_: np.ndarray | None = None  # (C, width) class points compared with clips
        self.width_: int | None = None

    def _norm(self, a: np.ndarray) -> np.ndarray:
        return l2_normalize(a) if self.config.normalize else a

    def _fit(self, x, labels, text, seen) -> None:
        match = self.config.dimension_match
        if match == "least_squares":
            rows = text[labels]  # (N, Dt): each training clip's class text
            gram = rows.T @ rows
            ridge = self.config.ridge * max(np.trace(gram) / gram.shape[0], 1e-12)
            text_to_feature = np.linalg.solve(gram + ridge * np.eye(gram.shape[0]), rows.T @ self._norm(x))
            self.width_ = x.shape[1]
            self.class_anchors_ = self._norm(text @ text_to_feature)
            return
        self.width_ = max(x.shape[1], text.shape[1]) if match == "zero_pad" else min(x.shape[1], text.shape[1])
        self.class_anchors_ = self._clip_points(text)  # text is treated exactly like a clip

    def _clip_points(self, x: np.ndarray) -> np.ndarray:
        if self.config.dimension_match == "truncate":
            return self._norm(_fit_width(x, self.width_))
        if self.config.dimension_match == "zero_pad":
            # normalise before padding: padding then keeps the norm, and the full vector counts
            return _fit_width(self._norm(x), self.width_)
        return self._norm(x)

    def _distances(self, x: np.ndarray) -> np.ndarray:
        return euclidean_distances(self._clip_points(x), self.class_anchors_)
