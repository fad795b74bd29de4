"""The one place global seeds are set.
"""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int, *, python: bool = True, numpy: bool = True) -> None:
    """Seed torch's global generator (CPU and every GPU), python's `random` and numpy's legacy global state.

    python=False / numpy=False leave those states as they are, for code whose own randomness comes from
    generators it creates itself: seeding a global it never draws from would change nothing of its results,
    but would reset the stream of whatever else in the process does draw from it.
    """
    if python:
        random.seed(seed)
    if numpy:
        np.random.seed(seed)
    torch.manual_seed(seed)
