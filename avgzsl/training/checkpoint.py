"""The checkpoint format: what a checkpoint holds, its version, and safe loading.
"""

from __future__ import annotations

import json
import os
import pickle
import warnings
import zipfile
from pathlib import Path

import torch

from avgzsl.formats.atomic import atomic_output
from avgzsl.models.joint_embedding import JointEmbedding
from avgzsl.models.registry import create_model
from avgzsl.runtime.device import resolve_device
from avgzsl.settings.experiment import ExperimentConfig

CHECKPOINT_FORMAT = "avgzsl-checkpoint"
CHECKPOINT_VERSION = 2  # 2: format marker; config round-tripped through JSON. 1 (unmarked) is read too.


class CheckpointError(ValueError):
    """A file that is not a checkpoint this version can load safely; the message names it."""


def _checkpoint(cfg: ExperimentConfig, model: torch.nn.Module, epoch: int, selected: bool = False) -> dict:
    """Only tensors and JSON-compatible values, so `torch.load(weights_only=True)` reads it back."""
    return {
        "format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION,
        "config": json.loads(json.dumps(cfg.to_dict())), "epoch": int(epoch), "selected": bool(selected),
        "model": model.state_dict(),
    }


def _atomic_save(obj, path: Path) -> None:
    with atomic_output(path) as tmp:
        torch.save(obj, tmp)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0][:200] if text else "") or type(err).__name__


def read_checkpoint(path: str | os.PathLike, device: str = "auto") -> dict:
    """The checkpoint's dict, unpickled with `weights_only=True`: tensors and plain data only, no code runs."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the checkpoint file is empty")
    with path.open("rb") as fh:
        head = fh.read(2)
    if head != b"PK" and head[:1] != b"\x80":  # torch.save writes a zip archive; older torch a pickle
        raise CheckpointError(f"{path}: not a checkpoint (neither a torch zip archive nor a pickle)")
    if head == b"PK" and not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path}: not a readable avgzsl checkpoint (truncated or corrupt zip archive)")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols of files it then refuses anyway
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(path, map_location=resolve_device(device), weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights only" not in str(err).lower():  # a damaged pickle stream, not a refused global
            raise CheckpointError(f"{path}: not a readable avgzsl checkpoint (corrupt?): {_first_line(err)}") from err
        raise CheckpointError(
            f"{path}: refused: the file holds Python objects other than tensors and plain data, so loading it "
            "could run code (a checkpoint of another program, or of an older format that is no longer read); "
            "nothing in it was executed"
        ) from err
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError, zipfile.BadZipFile) as err:
        raise CheckpointError(
            f"{path}: not a readable avgzsl checkpoint (truncated or corrupt?): {_first_line(err)}"
        ) from err
    if not isinstance(state, dict) or not isinstance(state.get("config"), dict) or not isinstance(
        state.get("model"), dict
    ):
        raise CheckpointError(f"{path}: not an avgzsl checkpoint (expected a dict with 'config' and 'model')")
    version = state.get("format_version", 1)
    if state.get("format", CHECKPOINT_FORMAT) != CHECKPOINT_FORMAT or version > CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format {state.get('format')!r} version {version}; this "
                              f"avgzsl reads {CHECKPOINT_FORMAT!r} up to version {CHECKPOINT_VERSION}")
    return state


def load_checkpoint(path: str | os.PathLike, device: str = "auto") -> tuple[JointEmbedding, ExperimentConfig, dict]:
    state = read_checkpoint(path, device)
    try:
        cfg = ExperimentConfig.from_dict(state["config"])
    except (ValueError, TypeError) as err:
        raise CheckpointError(f"{path}: its config is not valid: {err}") from err
    model = create_model(cfg.model, cfg.loss).to(resolve_device(device))
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as err:
        raise CheckpointError(f"{path}: its weights do not fit the model its config describes: {err}") from err
    model.eval()
    return model, cfg, state
