"""Per-clip feature sequences in memory, packed: what a temporal model reads beside a split's averaged rows.

A split's sequences are one (sum T_i, D) tensor and the (N + 1,) offsets of each clip's first window, so
clips of a few windows and clips of hundreds cost only their own rows (VGGSound-GZSL's C3D sequences padded
to the longest clip would take several times the memory). A batch is cut out and padded when it is drawn
(`padded`), the way TCaF's collator pads per batch (their src/dataset.py:657-818).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Sequences:
    values: torch.Tensor  # (sum T_i, D) float32
    offsets: torch.Tensor  # (N + 1,) long; clip i's windows are values[offsets[i]:offsets[i + 1]]
    window_s: float = float("nan")
    hop_s: float = float("nan")

    @classmethod
    def from_arrays(cls, values: np.ndarray, lengths: np.ndarray, **timing) -> "Sequences":
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return cls(torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)), torch.from_numpy(offsets),
                   **timing)

    def __len__(self) -> int:
        return int(self.offsets.shape[0]) - 1

    @property
    def lengths(self) -> torch.Tensor:  # (N,)
        return self.offsets[1:] - self.offsets[:-1]

    @property
    def dim(self) -> int:
        return int(self.values.shape[1])

    def to(self, device) -> "Sequences":
        return Sequences(self.values.to(device), self.offsets.to(device), self.window_s, self.hop_s)

    def subset(self, idx: torch.Tensor) -> "Sequences":
        """The clips `idx` (indices or a bool mask), in that order."""
        idx = torch.as_tensor(idx, device=self.offsets.device)
        idx = idx.nonzero().squeeze(1) if idx.dtype == torch.bool else idx.long()
        lengths = self.lengths[idx]
        starts = self.offsets[idx]
        # row r of the result is window (r - first row of its clip) of its clip
        clip = torch.repeat_interleave(torch.arange(len(idx), device=idx.device), lengths)
        first = torch.cumsum(lengths, 0) - lengths
        rows = starts[clip] + torch.arange(int(lengths.sum()), device=idx.device) - first[clip]
        offsets = torch.cat([lengths.new_zeros(1), torch.cumsum(lengths, 0)])
        return Sequences(self.values[rows], offsets, self.window_s, self.hop_s)

    def concat(self, other: "Sequences") -> "Sequences":
        if other.dim != self.dim:
            raise ValueError(f"cannot concatenate {self.dim}-d and {other.dim}-d sequences")
        offsets = torch.cat([self.offsets, other.offsets[1:] + self.offsets[-1]])
        return Sequences(torch.cat([self.values, other.values]), offsets, self.window_s, self.hop_s)

    def means(self) -> torch.Tensor:
        """(N, D): every clip's windows averaged."""
        clip = torch.repeat_interleave(torch.arange(len(self), device=self.values.device), self.lengths)
        sums = torch.zeros((len(self), self.dim), dtype=torch.float64, device=self.values.device)
        sums.index_add_(0, clip, self.values.double())
        return (sums / self.lengths[:, None]).float()

    def padded(self, idx: torch.Tensor, length: int, start: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Clips `idx` as a (B, length, D) tensor and a (B, length) mask (True = a real window).

        Clip i contributes windows start[i], start[i] + 1, ... (start 0 when None); rows past its end are zeros.
        """
        lengths = self.lengths[idx]  # (B,)
        start = torch.zeros_like(lengths) if start is None else start.to(lengths)
        steps = torch.arange(length, device=lengths.device)  # (length,)
        mask = steps[None, :] < (lengths - start)[:, None]  # (B, length)
        rows = self.offsets[idx][:, None] + start[:, None] + steps[None, :]
        rows = torch.where(mask, rows, torch.zeros_like(rows))
        out = self.values[rows]  # (B, length, D)
        return out * mask[..., None].to(out.dtype), mask
