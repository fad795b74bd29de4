"""The checkpoint format: what a checkpoint holds, its version, and safe loading.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from avgzsl.formats.input_files import short
from avgzsl.formats.torch_files import TorchFileError, load_torch_file
from avgzsl.models.method import MethodError, ZSLMethod
from avgzsl.models.registry import create_model
from avgzsl.runtime.device import resolve_device
from avgzsl.settings.checks import SECTIONS, check_fields
from avgzsl.settings.experiment import MODEL_KINDS, ExperimentConfig

CHECKPOINT_FORMAT = "avgzsl-checkpoint"
CHECKPOINT_VERSION = 2  # 2: format marker; config round-tripped through JSON. 1 (unmarked) is read too.


class CheckpointError(TorchFileError):
    """A file that is not a checkpoint this version can load safely; the message names it."""


def _checkpoint(cfg: ExperimentConfig, model: torch.nn.Module, epoch: int, selected: bool = False) -> dict:
    """Only tensors and JSON-compatible values, so `torch.load(weights_only=True)` reads it back."""
    return {
        "format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION,
        "config": json.loads(json.dumps(cfg.to_dict())), "epoch": int(epoch), "selected": bool(selected),
        "model": model.state_dict(),
    }


def read_checkpoint(path: str | os.PathLike, device: str = "auto") -> dict:
    """The checkpoint's dict, unpickled with `weights_only=True`: tensors and plain data only, no code runs."""
    path = Path(path)
    state = load_torch_file(path, what="a checkpoint", map_location=resolve_device(device), error=CheckpointError)
    if not isinstance(state, dict) or not isinstance(state.get("config"), dict) or not isinstance(
        state.get("model"), dict
    ):
        raise CheckpointError(f"{path}: not an avgzsl checkpoint (expected a dict with 'config' and 'model')")
    fmt, version = state.get("format", CHECKPOINT_FORMAT), state.get("format_version", 1)
    if isinstance(version, bool) or not isinstance(version, int):
        raise CheckpointError(f"{path}: format_version must be an integer, got {short(version)}")
    if fmt != CHECKPOINT_FORMAT or not 1 <= version <= CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format {short(fmt)} version {version}; this "
                              f"avgzsl reads {CHECKPOINT_FORMAT!r} versions 1 to {CHECKPOINT_VERSION}")
    return state


def stored_config(path: Path, config: dict) -> ExperimentConfig:
    """The checkpoint's config, checked key by key by the rules `--set` values meet (type, range, known keys)
    before the settings' own cross-field checks; every error names the checkpoint and the key."""
    unknown = sorted(set(config) - {"name", *SECTIONS})
    if unknown:
        raise CheckpointError(f"{path}: its stored config has unknown key(s) {[short(k) for k in unknown]}")
    if not isinstance(config.get("name", ""), str):
        raise CheckpointError(f"{path}: config.name must be a string, got {short(config['name'])}")
    try:
        check_fields({s: config.get(s, {}) for s in SECTIONS}, prefix="config.")
        return ExperimentConfig.from_dict(config)
    except (ValueError, TypeError) as err:  # ConfigError names the key; the settings' own checks say theirs
        raise CheckpointError(f"{path}: its stored config is not valid: {err}") from None


def _check_shapes(path: Path, weights: dict, expected: dict) -> None:
    """Every stored tensor has the shape of the model the config describes (`expected`: shapes only)."""
    missing, unexpected = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{path}: its weights do not fit the model its config describes: missing "
                              f"{[short(k) for k in missing[:5]]}, unexpected {[short(k) for k in unexpected[:5]]}")
    for key, want in expected.items():
        have = weights[key]
        if not isinstance(have, torch.Tensor) or tuple(have.shape) != tuple(want.shape):
            got = tuple(have.shape) if isinstance(have, torch.Tensor) else type(have).__name__
            raise CheckpointError(f"{path}: its weights do not fit the model its config describes: "
                                  f"{short(key)} is {got}, the model needs {tuple(want.shape)}")


def _check_finite(path: Path, weights: dict) -> None:
    for key, value in weights.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"{path}: weight {short(key)} holds NaN or inf values")


def load_checkpoint(path: str | os.PathLike, device: str = "auto", *,
                    method: str | None = None) -> tuple[ZSLMethod, ExperimentConfig, dict]:
    """The model a checkpoint holds. A method outside the package is built only when `method` names the same
    `package.module:Class` as the checkpoint's config: a file never chooses which code is imported.

    The stored config is checked like `--set` values, the weights for NaN and inf, and, for the built-in
    methods, the weights' shapes against a model built on torch's meta device (no memory) before the real one
    is allocated: a config cannot make the loader allocate more than the file itself holds.
    """
    path = Path(path)
    state = read_checkpoint(path, device)
    cfg = stored_config(path, state["config"])
    _check_finite(path, state["model"])
    try:
        if cfg.model.kind in MODEL_KINDS:  # a user's own method (trusted by name) need not build on meta
            with torch.device("meta"):
                _check_shapes(path, state["model"], create_model(cfg.model, cfg.loss).state_dict())
        model = create_model(cfg.model, cfg.loss, trusted=method or "").to(resolve_device(device))
    except MethodError as err:
        raise CheckpointError(f"{path}: {err}") from err
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise CheckpointError(f"{path}: its weights do not fit the model its config describes: {err}") from err
    model.eval()
    return model, cfg, state
