"""Importing AVCA-GZSL's own modules from a checkout, for the benchmarks that time their code beside ours."""

from __future__ import annotations

import contextlib
import importlib
import sys
import types
from pathlib import Path

import torch


def stub_unused_imports() -> None:
    """Modules their files import at the top but the timed code never calls."""
    try:
        importlib.import_module("torchvision")
    except ImportError:  # beside a CPU torch, a torchvision wheel may be missing or fail to import
        sys.modules["torchvision"] = types.ModuleType("torchvision")
        sys.modules["torchvision.models"] = sys.modules["torchvision"].models = types.ModuleType("torchvision.models")
    try:
        importlib.import_module("torch.utils.tensorboard")
    except ImportError:
        stub = types.ModuleType("torch.utils.tensorboard")
        stub.SummaryWriter = object
        sys.modules["torch.utils.tensorboard"] = stub


def import_their_module(repo: Path, name: str, project: str = "AVCA-GZSL") -> types.ModuleType:
    """`src.<name>` of the checkout at `repo` (of `project`: AVCA-GZSL, or TCAF-GZSL, laid out alike); a missing
    third-party module of theirs (einops for their AVCA and TCaF) is named with the way to get it."""
    stub_unused_imports()
    if str(repo) not in sys.path:
        sys.path.insert(0, str(repo))
    try:
        return importlib.import_module(f"src.{name}")
    except ModuleNotFoundError as err:
        raise SystemExit(f"{project}'s src/{name}.py needs {err.name!r}, which this environment lacks "
                         f"(pip install {err.name} into .venv to time their code)") from err


@contextlib.contextmanager
def plateau_scheduler_without_verbose():
    """Their AVCA builds ReduceLROnPlateau(..., verbose=True), a keyword this torch no longer takes. Dropped while their
    model is built (the timed steps never call the scheduler)."""
    original = torch.optim.lr_scheduler.ReduceLROnPlateau

    class WithoutVerbose(original):
        def __init__(self, *args, verbose=None, **kwargs):
            super().__init__(*args, **kwargs)

    torch.optim.lr_scheduler.ReduceLROnPlateau = WithoutVerbose
    try:
        yield
    finally:
        torch.optim.lr_scheduler.ReduceLROnPlateau = original
