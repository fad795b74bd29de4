"""The field checks of experiment settings (`model`, `loss`, `train`): names, types and ranges.

One set of rules for every place a setting enters: `avgzsl train --config/--set` and the workflow config
(`avgzsl.pipeline.config_check`, which adds the schema, the methods' own rules and the workflow's keys), and
the config stored inside a checkpoint (`avgzsl.training.checkpoint`), which is someone else's file as often
as ours.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import types
import typing
from collections.abc import Callable

from avgzsl.settings.experiment import (
    AVCA_SCORINGS,
    DISTANCES,
    LR_SCHEDULES,
    MODEL_KINDS,
    OPTIMIZERS,
    PRECISIONS,
    PROTOCOLS,
    LossConfig,
    ModelConfig,
    TrainConfig,
    installed_methods,
    is_class_path,
)

MISSING_MODALITY = ("exclude", "other_modality")  # avgzsl.evaluation.metrics.MISSING_MODALITY (a test keeps them equal)
SECTIONS = {"model": ModelConfig, "loss": LossConfig, "train": TrainConfig}


class ConfigError(ValueError):
    """One or more bad config values; `problems` holds (key path, what is wrong) pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        lines = [f"{key}: {problem}" for key, problem in problems]
        head = "" if len(lines) == 1 else f"{len(lines)} problems:\n  "
        super().__init__(head + "\n  ".join(lines))

    @property
    def keys(self) -> list[str]:
        return [key for key, _ in self.problems]


# ---- values against a dataclass's field types and ranges ------------------------------------


def _shown(value: object, limit: int = 60) -> str:
    """A value as a message shows it: its repr, cut short (a checkpoint's stored config is someone else's)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _type_problem(value, hint) -> str | None:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (hint,) = [a for a in args if a is not type(None)]
        return _type_problem(value, hint)
    if origin is list:
        if not isinstance(value, list):
            return f"must be a list of {_NAMES[args[0]]}s, got {_shown(value)}"
        bad = [v for v in value if _type_problem(v, args[0])]
        return f"must be a list of {_NAMES[args[0]]}s, got {_shown(value)}" if bad else None
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value),
        str: isinstance(value, str),
        dict: isinstance(value, dict),
    }[hint]
    return None if ok else f"must be {_ARTICLE[hint]} {_NAMES[hint]}, got {_shown(value)}"


_NAMES = {bool: "boolean", int: "integer", float: "number", str: "string", dict: "mapping"}
_ARTICLE = {bool: "a", int: "an", float: "a", str: "a", dict: "a"}


def at_least(low: float) -> Callable:
    return lambda v: None if v >= low else f"must be >= {low}, got {v}"


def positive(v) -> str | None:
    return None if v > 0 else f"must be > 0, got {v}"


def below_one(v) -> str | None:
    return None if 0 <= v < 1 else f"must be in [0, 1), got {v}"


def one_of(choices: tuple) -> Callable:
    return lambda v: None if v in choices else f"must be one of {list(choices)}, got {_shown(v)}"


def increasing_positive(v: list) -> str | None:
    ok = all(m >= 1 for m in v) and all(a < b for a, b in itertools.pairwise(v))
    return None if ok else f"must be increasing epochs >= 1, got {v}"


def _device(v: str) -> str | None:
    head, _, index = v.partition(":")
    ok = v in ("auto", "cpu", "cuda") or (head == "cuda" and index.isdigit())
    return None if ok else f"must be auto, cpu, cuda or cuda:N, got {_shown(v)}"


def _model_kind(kind: str) -> str | None:
    if kind in MODEL_KINDS or is_class_path(kind) or kind in installed_methods():
        return None
    return (f"must be one of {list(MODEL_KINDS)}, an installed method's name, or a 'package.module:Class' path, "
            f"got {_shown(kind)}")


# ranges of the values a type check lets through; the schema's $defs say the same for the workflow
RULES: dict[type, dict[str, Callable]] = {
    ModelConfig: {
        "kind": _model_kind, "audio_dim": at_least(1), "video_dim": at_least(1), "text_dim": at_least(1),
        "hidden_dim": at_least(1), "embed_dim": at_least(1), "decoder_hidden_dim": at_least(1), "dropout": below_one,
        "text_hidden_dim": at_least(0), "decoder_dropout": below_one, "attention_test": one_of(("soft", "hard")),
        "additional_dropout": below_one, "attention_depth": at_least(1), "avca_scoring": one_of(AVCA_SCORINGS),
        "bn_momentum": lambda v: None if 0 < v <= 1 else f"must be in (0, 1], got {v}",
    },
    LossConfig: {
        "distance": one_of(DISTANCES), "margin": at_least(0), "eps": at_least(0), "rec_distance": one_of(DISTANCES),
        "attention_logits": one_of(("distance", "dot")), "attention_weighting": one_of(("per_clip", "batch_mean")),
    },
    TrainConfig: {
        "epochs": at_least(1), "batch_size": at_least(1), "lr": positive, "momentum": below_one, "weight_decay": at_least(0),
        "milestones": increasing_positive, "gamma": lambda v: None if 0 < v <= 1 else f"must be in (0, 1], got {v}",
        "select_modality": one_of(("audio", "video", "both")), "protocol": one_of(PROTOCOLS),
        "num_threads": lambda v: None if v is None else at_least(1)(v), "device": _device,
        "seed": lambda v: None if 0 <= v < 2**32 else f"must be in 0 .. 2^32-1 (numpy's seed range), got {v}",
        "missing_modality": one_of(MISSING_MODALITY), "batches_per_epoch": at_least(0),
        "optimizer": one_of(OPTIMIZERS), "lr_schedule": one_of(LR_SCHEDULES), "patience": at_least(0),
        "precision": one_of(PRECISIONS),
    },
}


def field_problems(cls: type, values: dict, rules: dict[str, Callable] | None = None) -> list[tuple[str, str]]:
    """(key, problem) for unknown keys, values of the wrong type and values out of range."""
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls)]
    rules = RULES.get(cls, {}) if rules is None else rules
    problems = []
    for key, value in values.items():
        if key not in hints:
            problems.append((key, f"unknown key; valid: {', '.join(valid)}"))
            continue
        problem = _type_problem(value, hints[key])
        if problem is None and key in rules:
            problem = rules[key](value)  # ranges only once the type is right
        if problem:
            problems.append((key, problem))
    return problems


def check_fields(sections: dict[str, dict], prefix: str = "") -> None:
    """ConfigError naming every unknown section or key and every value of the wrong type or range, as
    `prefix + section.key` (the field rules alone: a method's own rules need the models, a layer above)."""
    unknown = sorted(set(sections) - set(SECTIONS))
    problems = [(f"{prefix}{s}", f"unknown section; valid: {', '.join(SECTIONS)}") for s in unknown]
    for section, cls in SECTIONS.items():
        values = sections.get(section) or {}
        if not isinstance(values, dict):
            problems.append((f"{prefix}{section}", f"must be a mapping, got {_shown(values)}"))
            continue
        problems += [(f"{prefix}{section}.{k}", p) for k, p in field_problems(cls, values)]
    if problems:
        raise ConfigError(problems)
