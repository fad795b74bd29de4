"""Dataset kinds by name. Each entry names the module and object that define the kind; the module is imported
only when the kind is asked for, so a rule that calls into one kind counts only that kind's code
(`DatasetKind.module`), and a kind's heavy imports stay out of the others' runs."""

from __future__ import annotations

import importlib

from avgzsl.datasets.kind import DatasetKind

KINDS: dict[str, str] = {
    "demo": "avgzsl.datasets.demo:DEMO",
    "audiosetzsl": "avgzsl.datasets.audiosetzsl:AUDIOSETZSL",
    "custom": "avgzsl.datasets.custom:CUSTOM",
    "features": "avgzsl.datasets.released:FEATURES",
    "vggsound-gzsl": "avgzsl.datasets.avca_benchmarks:VGGSOUND_GZSL",
    "ucf-gzsl": "avgzsl.datasets.avca_benchmarks:UCF_GZSL",
    "activitynet-gzsl": "avgzsl.datasets.avca_benchmarks:ACTIVITYNET_GZSL",
}


def names() -> tuple[str, ...]:
    return tuple(KINDS)


def dataset_kind(name: str) -> DatasetKind:
    """The kind registered under `name`; an unknown name is a ValueError listing the known ones."""
    if name not in KINDS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(KINDS)}")
    module, _, attr = KINDS[name].partition(":")
    kind = getattr(importlib.import_module(module), attr)
    if not isinstance(kind, DatasetKind) or kind.name != name:
        raise TypeError(f"{KINDS[name]} is not the DatasetKind {name!r}")
    return kind

