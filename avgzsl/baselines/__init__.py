"""Classical zero-shot baselines on the same features, scored by the same metrics as the deep models.

Every method follows one contract (see `_common.ZeroShotBaseline`):

    model = create_baseline("eszsl", gamma=0.1)
    model.fit(x, labels, text, seen)       # x (N, D), labels (N,) class indices, all of seen classes
    d = model.distances(x_test)            # (M, C) over all classes; smaller = closer
    avgzsl.evaluation.metrics.gzsl_classification(d, test_labels, seen)

GCCA additionally offers the three-view fit (`GCCA.fit_views`) used for the paper's retrieval table.

A baseline is named by its registry name, by an installed package's `avgzsl.baselines` entry point, or as
`package.module:Class` for a class of the user's own (`baseline_class`; docs/METHODS.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import fields
from importlib.metadata import entry_points

from avgzsl.baselines._common import ZeroShotBaseline, cosine_distances, l2_normalize
from avgzsl.baselines.ale import ALE, AleConfig
from avgzsl.baselines.conse import CONSE, ConseConfig
from avgzsl.baselines.devise import DEVISE, DeviseConfig
from avgzsl.baselines.eszsl import ESZSL, EszslConfig
from avgzsl.baselines.gcca import GCCA, GccaConfig
from avgzsl.baselines.pretrained import PretrainedConfig, PretrainedFeatures
from avgzsl.baselines.sae import SAE, SaeConfig
from avgzsl.settings.experiment import import_class_path, is_class_path

BASELINE_ENTRY_POINTS = "avgzsl.baselines"

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


def baseline_class(name: str) -> type[ZeroShotBaseline]:
    """The class a baseline name gives: built in, an installed entry point, or `package.module:Class`."""
    key = name.strip().lower()
    if key in BASELINES:
        return BASELINES[key]
    installed = {ep.name: ep for ep in entry_points(group=BASELINE_ENTRY_POINTS)}
    if name in installed:
        return _checked(installed[name].load(), name)
    if not is_class_path(name):
        raise ValueError(f"unknown baseline {name!r}; valid names: {', '.join(sorted(BASELINES))}, an installed "
                         f"{BASELINE_ENTRY_POINTS} entry point, or a 'package.module:Class' path")
    return _checked(import_class_path(name, f"baseline {name!r}"), name)


def _checked(cls, name: str) -> type[ZeroShotBaseline]:
    if not (isinstance(cls, type) and issubclass(cls, ZeroShotBaseline)):
        raise ValueError(f"baseline {name!r} names {cls!r}, not a subclass of avgzsl.baselines.ZeroShotBaseline")
    if not dataclasses.is_dataclass(getattr(cls, "config_class", None)):
        raise ValueError(f"baseline {name!r}: {cls.__name__}.config_class must be a dataclass of its settings")
    if not cls.test_modalities or not set(cls.test_modalities) <= {"audio", "video", "both"}:
        raise ValueError(f"baseline {name!r}: test_modalities must be among audio, video, both; got "
                         f"{cls.test_modalities!r}")
    return cls


def baseline_label(name: str) -> str:
    return baseline_class(name).label or name.upper()


def create_baseline(name: str, **config_overrides) -> ZeroShotBaseline:
    """A baseline by name (`baseline_class`), its config built from defaults plus `config_overrides`."""
    method = baseline_class(name)
    key = name.strip().lower() if name.strip().lower() in BASELINES else name
    valid = {f.name for f in fields(method.config_class)}
    unknown = sorted(set(config_overrides) - valid)
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for baseline {key!r}; valid options: {sorted(valid)}")
    return method(method.config_class(**config_overrides))


__all__ = [
    "ALE",
    "AleConfig",
    "BASELINES",
    "BASELINE_ENTRY_POINTS",
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
    "baseline_class",
    "baseline_label",
    "cosine_distances",
    "create_baseline",
    "l2_normalize",
]
