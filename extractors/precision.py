"""Reduced-precision inference and host-to-device copies for the feature extractors.

`autocast` runs the convolutions of I3D and the audio CNN in bfloat16 or float16 (torch.autocast)
while the weights stay float32; features come back as float32. It roughly halves the time and
memory of a GPU forward pass and changes each feature slightly: `benchmarks/autocast_effect.py`
measures the cosine between autocast and float32 features on real clips (see benchmarks/README.md).
On CUDA, inputs are staged in page-locked (pinned) host memory and copied with `non_blocking=True`,
so the copy of one batch overlaps the GPU's work on the previous one.
"""

from __future__ import annotations

import contextlib
from typing import ContextManager

import torch

AUTOCAST_MODES = {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def check_autocast(mode: str) -> str:
    if mode not in AUTOCAST_MODES:
        raise ValueError(f"autocast must be one of {sorted(AUTOCAST_MODES)}, got {mode!r}")
    return mode


def autocast(mode: str, device: torch.device | str) -> ContextManager:
    """torch.autocast for `mode` on the device's type; `none` is a context that changes nothing."""
    dtype = AUTOCAST_MODES[check_autocast(mode)]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


def to_device(x: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """`x` on `device`; to a GPU through pinned memory without blocking the host (a no-op copy on CPU)."""
    device = torch.device(device)
    if device.type != "cuda":
        return x.to(device)
    return x.pin_memory().to(device, non_blocking=True)
