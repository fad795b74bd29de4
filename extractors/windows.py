"""Windows over a sequence of steps (video frames, audio-CNN time columns): where each one starts.

Torch-free, so the workflow's config check can turn the audio window and hop into whole columns without
loading the network.
"""

from __future__ import annotations

import math

TAIL_WINDOWS = ("aligned", "drop")


def window_starts(steps: int, window: int, hop: int, tail: str = "aligned") -> list[int]:
    """First step of every `window`-step window over `steps` steps, `hop` apart.

    A sequence no longer than one window is one window (from 0). When the hop does not end exactly on the
    last step, "aligned" adds one more window ending on it (overlapping the one before), "drop" leaves the
    remaining steps out.
    """
    if tail not in TAIL_WINDOWS:
        raise ValueError(f"tail must be one of {TAIL_WINDOWS}, got {tail!r}")
    if window < 1 or hop < 1:
        raise ValueError(f"window and hop must be >= 1, got {window}, {hop}")
    if steps <= window:
        return [0]
    last = steps - window
    starts = list(range(0, last + 1, hop))
    if starts[-1] != last and tail == "aligned":
        starts.append(last)
    return starts


def pooled_length(steps: int, pools: int) -> int:
    """Steps left after `pools` 2x max-poolings in ceil mode (the audio CNN's time axis)."""
    for _ in range(pools):
        steps = math.ceil(steps / 2)
    return steps


def time_pools(n_convs: int, pool_after: tuple[int, ...] | list[int]) -> int:
    """How many 2x poolings the audio CNN applies: one after each listed conv except the last conv."""
    return len({i for i in pool_after if 0 <= i < n_convs - 1})


def column_seconds(n_convs: int, pool_after, hop_length: int, sample_rate: int) -> float:
    """Seconds between two time columns of the audio CNN's last feature map."""
    return 2 ** time_pools(n_convs, pool_after) * hop_length / sample_rate


def seconds_to_columns(seconds: float, column_s: float, what: str) -> int:
    """A window or hop in seconds as whole columns; a length that is no whole multiple is refused."""
    columns = round(seconds / column_s)
    if columns < 1 or abs(columns * column_s - seconds) > 1e-6 * max(1.0, seconds):
        raise ValueError(f"{what} {seconds:g} s is not a whole multiple of the audio CNN's column step "
                         f"{column_s:g} s (2^pools x logmel.hop_length / sample_rate); try {max(1, columns) * column_s:g}")
    return columns
