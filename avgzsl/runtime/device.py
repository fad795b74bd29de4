"""The one place a device name becomes a torch device, and where torch's thread count is set.

A device is checked here, where the setting is still known by name, rather than at the first `.to(device)`
deep inside a training step or a shard job, whose error would not say which setting asked for it.
"""

from __future__ import annotations

import torch

DEVICE_NAMES = "'auto', 'cpu', 'cuda' or 'cuda:<index>'"


def resolve_device(device: str | torch.device = "auto", *, option: str = "device") -> torch.device:
    """`auto` -> the GPU when torch sees one, else the CPU; any other name or torch.device as given.

    Raises ValueError naming `option` (the setting the value came from) for a name torch cannot parse and for
    a CUDA device this machine does not have.
    """
    if isinstance(device, torch.device):
        resolved = device
    elif not isinstance(device, str):
        raise ValueError(f"{option}: expected a device name ({DEVICE_NAMES}), got {device!r}")
    elif device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            resolved = torch.device(device)
        except RuntimeError as err:
            raise ValueError(f"{option}: {device!r} is not a device name (use {DEVICE_NAMES})") from err
    if resolved.type == "cuda":
        _check_cuda(resolved, option)
    return resolved


def _check_cuda(device: torch.device, option: str) -> None:
    if not torch.cuda.is_available():
        raise ValueError(f"{option}: {str(device)!r} asks for CUDA, but torch {torch.__version__} sees no CUDA "
                         "device here (use 'auto' or 'cpu')")
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise ValueError(f"{option}: {str(device)!r} asks for CUDA device {device.index}, but this machine has "
                         f"{count} (indices 0 to {count - 1})")


def set_torch_threads(threads: int | None) -> None:
    """torch's intra-op threads; None or 0 leaves torch's default (the setting is optional everywhere)."""
    if threads:
        torch.set_num_threads(int(threads))
