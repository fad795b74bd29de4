"""Classical zero-shot baselines on the same features, scored by the same metrics as the deep models.

Every method follows one contract (see `_common.ZeroShotBaseline`):

    model = create_baseline("eszsl", gamma=0.1)
    model.fit(x, labels, text, seen)       # x (N, D), labels (N,) class indices, all of seen classes
    d = model.distances(x_test)            # (M, C) over all classes; smaller = closer
    avgzsl.evaluation.metrics.gzsl_classification(d, test_labels, seen)

GCCA additionally offers the three-view fit (`GCCA.fit_views`) used for the paper's retrieval table.
"""

from __future__ import annotations

from dataclasses import fields

from avgzsl.baselines._common import ZeroShotBaseline, cosine_distances, l2_normalize
from avgzsl.baselines.ale import ALE, AleConfig
from avgzsl.baselines.conse import CONSE, ConseConfig
from avgzsl.baselines.devise import DEVISE, DeviseConfig
from avgzsl.baselines.eszsl import ESZSL, EszslConfig
from avgzsl.baselines.gcca import GCCA, GccaConfig
from avgzsl.baselines.pretrained import PretrainedConfig, PretrainedFeatures
from avgzsl.baselines.sae import SAE, SaeConfig

# each class names its config dataclass as `config_class`
BASELINES: dict[str, type[ZeroShotBaseline]] = {
    "conse": CONSE,
    "devise": DEVISE,
    "sae": SAE,
    "eszsl": ESZSL,
    "ale": ALE,
    "gcca": GCCA,
    "pretrained": PretrainedFeatures,
}


def create_baseline(name: str, **config_overrides) -> ZeroShotBaseline:
    """A baseline by registry name, its config built from defaults plus `config_overrides`."""
    key = name.strip().lower()
    if key not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; valid names: {', '.join(sorted(BASELINES))}")
    method = BASELINES[key]
    valid = {f.name for f in fields(method.config_class)}
    unknown = sorted(set(config_overrides) - valid)
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for baseline {key!r}; valid options: {sorted(valid)}")
    return method(method.config_class(**config_overrides))


__all__ = [
    "ALE",
    "AleConfig",
    "BASELINES",
    "CONSE",
    "ConseConfig",
    "DEVISE",
    "DeviseConfig",
    "ESZSL",
    "EszslConfig",
    "GCCA",
    "GccaConfig",
    "PretrainedConfig",
    "PretrainedFeatures",
    "SAE",
    "SaeConfig",
    "ZeroShotBaseline",
    "cosine_distances",
    "create_baseline",
    "l2_normalize",
]
