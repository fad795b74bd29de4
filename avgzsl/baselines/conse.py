"""CONSE — convex combination of semantic embeddings (Norouzi et al., ICLR 2014).

A softmax classifier is trained over the seen classes only. A clip is embedded into the text space
as the probability-weighted mean of the word vectors of its T most probable seen classes,
f(x) = (1/Z) * sum_{t<=T} p(y_t | x) s(y_t), with Z the sum of those T probabilities, and compared
with every class vector by cosine similarity (as in the paper). No mapping is learned into the text
space, so the only trained part is the seen-class classifier.

Choices: the classifier is scikit-learn's multinomial logistic regression (the paper used the
pre-trained ImageNet softmax; here the extractor features play that role). Features are
L2-normalised per row first, as the project does for all inputs, which also keeps the regulariser C
meaningful across extractors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avgzsl.baselines._common import ZeroShotBaseline, cosine_distances


@dataclass
class ConseConfig:
    top_t: int = 10  # the paper's T; capped at the number of seen classes
    regularization_c: float = 1.0  # inverse L2 strength of the logistic regression
    max_iter: int = 1000
    normalize_features: bool = True


class CONSE(ZeroShotBaseline):
    config_class = ConseConfig
    label = "CONSE"

    def __init__(self, config: ConseConfig | None = None) -> None:
        super().__init__()
        self.config = config or ConseConfig()
        if self.config.top_t < 1:
            raise ValueError(f"top_t must be >= 1; got {self.config.top_t}")
        self.classifier_ = None  # a fitted sklearn LogisticRegression

    def _fit(self, x, labels, text, seen) -> None:
        # imported here: the workflow builds baselines while parsing the config, and sklearn takes seconds to load
        from sklearn.linear_model import LogisticRegression

        self.classifier_ = LogisticRegression(C=self.config.regularization_c, max_iter=self.config.max_iter)
        self.classifier_.fit(self._prepare(x), labels)

    def semantic_embedding(self, x: np.ndarray) -> np.ndarray:
        """(M, Dt) convex combination of the top-T seen class vectors."""
        proba = self.classifier_.predict_proba(self._prepare(np.asarray(x, dtype=np.float64)))
        class_ids = self.classifier_.classes_  # seen classes with training rows, column order of proba
        top_t = min(self.config.top_t, class_ids.size)
        # argpartition keeps this O(M * n_seen); the order inside the top T does not matter for a sum
        top = np.argpartition(-proba, top_t - 1, axis=1)[:, :top_t]
        weights = np.take_along_axis(proba, top, axis=1)
        weights = weights / weights.sum(axis=1, keepdims=True)
        return np.einsum("mt,mtd->md", weights, self.text_[class_ids[top]])

    def _distances(self, x: np.ndarray) -> np.ndarray:
        return cosine_distances(self.semantic_embedding(x), self.text_)
