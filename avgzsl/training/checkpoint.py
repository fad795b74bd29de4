"""The checkpoint format: what a checkpoint holds, its version, and safe loading.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from avgzsl.formats.torch_files import TorchFileError, load_torch_file
from avgzsl.models.method import MethodError, ZSLMethod
from avgzsl.models.registry import create_model
from avgzsl.runtime.device import resolve_device
from avgzsl.settings.experiment import ExperimentConfig

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
    version = state.get("format_version", 1)
    if state.get("format", CHECKPOINT_FORMAT) != CHECKPOINT_FORMAT or version > CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format {state.get('format')!r} version {version}; this "
                              f"avgzsl reads {CHECKPOINT_FORMAT!r} up to version {CHECKPOINT_VERSION}")
    return state


def load_checkpoint(path: str | os.PathLike, device: str = "auto", *,
                    method: str | None = None) -> tuple[ZSLMethod, ExperimentConfig, dict]:
    """The model a checkpoint holds. A method outside the package is built only when `method` names the same
    `package.module:Class` as the checkpoint's config: a file never chooses which code is imported."""
    state = read_checkpoint(path, device)
    try:
        cfg = ExperimentConfig.from_dict(state["config"])
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"{path}: its config is not valid: {err}") from err
    try:
        model = create_model(cfg.model, cfg.loss, trusted=method or "").to(resolve_device(device))
    except MethodError as err:
        raise CheckpointError(f"{path}: {err}") from err
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise CheckpointError(f"{path}: its weights do not fit the model its config describes: {err}") from err
    model.eval()
    return model, cfg, state
