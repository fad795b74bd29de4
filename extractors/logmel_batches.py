"""Log-mel batches for training the audio CNN, from memory or from the on-disk cache.

`clip_batches` draws the random crops in batch order whatever the source, so a seed gives the same batches
from `InMemorySpectrograms` as from `avgzsl_extractors.logmel_cache.LogMelStore`, and the same weights.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Iterator, Protocol, Sequence

import numpy as np
import torch


class SpectrogramSource(Protocol):
    """Where the trainer gets log-mels: `read(indices)` returns those clips' (n_mels, frames_i) arrays.

    `avgzsl_extractors.logmel_cache.LogMelStore` reads them from the on-disk cache (bounded memory);
    `InMemorySpectrograms` wraps arrays already in memory (tests, small data sets).
    """

    def __len__(self) -> int: ...

    def shapes(self, indices: Sequence[int]) -> list[tuple[int, ...]]: ...

    def read(self, indices: Sequence[int]) -> Sequence[np.ndarray]: ...


class InMemorySpectrograms:
    """A sequence of (n_mels, frames_i) arrays, used as given (float16 stays float16 until a batch is built)."""

    def __init__(self, specs: Sequence[np.ndarray]) -> None:
        self._specs = specs

    def __len__(self) -> int:
        return len(self._specs)

    def shapes(self, indices: Sequence[int]) -> list[tuple[int, ...]]:
        return [tuple(np.shape(self._specs[i])) for i in indices]

    def read(self, indices: Sequence[int]) -> list[np.ndarray]:
        return [np.asarray(self._specs[i]) for i in indices]


def as_source(specs: Sequence[np.ndarray] | SpectrogramSource) -> SpectrogramSource:
    return specs if hasattr(specs, "read") and hasattr(specs, "shapes") else InMemorySpectrograms(specs)


def _fit(spec: np.ndarray, frames: int, start: int) -> np.ndarray:
    """A (n_mels, frames) window from `start`; short clips are padded with their own floor (silence)."""
    if spec.shape[1] >= frames:
        return spec[:, start : start + frames]
    pad = np.full((spec.shape[0], frames - spec.shape[1]), spec.min(), dtype=spec.dtype)
    return np.concatenate([spec, pad], axis=1)


def _batch(specs: list[np.ndarray], frames: int, rng: np.random.Generator | None) -> torch.Tensor:
    """Random crops when rng is given (training), centre crops otherwise (validation)."""
    out = []
    for spec in specs:
        extra = max(spec.shape[1] - frames, 0)
        start = int(rng.integers(0, extra + 1)) if rng is not None else extra // 2
        out.append(_fit(spec, frames, start))
    return torch.from_numpy(np.stack(out).astype(np.float32, copy=False))  # (B, n_mels, frames)


def clip_batches(
    source: SpectrogramSource,
    clips: Sequence[int],
    batch_size: int,
    frames: int,
    rng: np.random.Generator | None,
) -> Iterator[torch.Tensor]:
    """(B, n_mels, frames) float32 batches of `clips` (indices into `source`) in the order given.

    A background thread reads the next batch's clips while the caller trains on this one (`os.preadv`
    and numpy copies release the GIL); crops are drawn here, in batch order, so a seed gives the same
    batches whether the source is in memory or on disk.
    """
    starts = range(0, len(clips), batch_size)
    if not len(clips):
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="logmel-read") as pool:
        pending = pool.submit(source.read, clips[0:batch_size])
        for start in starts:
            specs = pending.result()
            following = start + batch_size
            if following < len(clips):
                pending = pool.submit(source.read, clips[following : following + batch_size])
            yield _batch(list(specs), frames, rng)
