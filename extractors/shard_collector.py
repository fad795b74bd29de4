"""The model's side of a shard job: clips come in prepared (decoded, log-mel'd) and in manifest order; they leave
as kept feature rows (and, when sequences are asked for, each kept clip's window sequence) or as a reason, one per
clip.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from avgzsl_extractors.decode import OK, SKIPPED
from avgzsl_extractors.stage_times import add_stages


@dataclass
class Prepared:
    """What a decode worker hands to the model for one clip."""

    clip_id: str
    item: Any  # what the model gets for this clip; None when skipped
    reason: str
    seconds: float
    flags: str = ""  # notes on a usable clip, for the status table (avgzsl.formats.shards)
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage (avgzsl_extractors.stage_times)


@dataclass(frozen=True)
class SequenceOutput:
    """Where a shard job also writes its clips' window sequences (avgzsl.formats.sequence_shards), and their timing."""

    path: str | os.PathLike
    window_s: float  # seconds one window spans
    hop_s: float  # seconds between window starts
    settings: dict = field(default_factory=dict)  # recorded in the shard beside the job's own settings


def status_row(clip_id: str, reason: str, flags: str = "") -> dict:
    return {"clip_id": clip_id, "status": SKIPPED if reason else OK, "reason": reason, "flags": flags}


class ShardCollector:
    """The model's side of a shard job: batches the prepared clips, embeds each batch, keeps every clip's outcome."""

    def __init__(self, embed: Callable[[list], Any], batch_size: int, *, dim: int, sequences: bool = False,
                 stage: str = "model") -> None:
        """`embed(items) -> (B, D)`; with `sequences`, `-> ((B, D), B sequences (T_i, D))`."""
        self.embed, self.batch_size = embed, batch_size
        self.stage = stage  # the model's name among the recorded stage times
        self.pending: list[Prepared] = []
        self.kept_ids: list[str] = []
        self.kept: list[np.ndarray] = []
        self.kept_sequences: list[np.ndarray] | None = [] if sequences else None
        self.reasons: dict[str, str] = {}  # clip_id -> why it was skipped; "" for a kept clip
        self.flags: dict[str, str] = {}
        self.dim = dim  # until the model says otherwise
        self.decode_seconds = 0.0
        self.model_seconds = 0.0

    def add(self, prepared: Prepared) -> None:
        self.decode_seconds += prepared.seconds
        add_stages(prepared.stages)
        if prepared.item is None:
            self.reasons[prepared.clip_id] = prepared.reason
            return
        self.pending.append(prepared)
        if len(self.pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Embed the pending clips; a clip whose embedding is not finite is skipped with that reason."""
        if not self.pending:
            return
        t0 = time.perf_counter()
        result = self.embed([p.item for p in self.pending])
        elapsed = time.perf_counter() - t0
        self.model_seconds += elapsed
        add_stages({self.stage: elapsed})
        out, sequences = result if self.kept_sequences is not None else (result, None)
        out = np.asarray(out, dtype=np.float32)
        if out.ndim != 2 or out.shape[0] != len(self.pending):
            raise ValueError(f"embed_fn returned shape {out.shape} for a batch of {len(self.pending)} clips")
        if self.kept and out.shape[1] != self.kept[0].shape[0]:
            raise ValueError(f"embed_fn returned {out.shape[1]}-d features after {self.kept[0].shape[0]}-d ones")
        self.dim = int(out.shape[1])
        finite = np.isfinite(out).all(axis=1)
        if sequences is not None:
            sequences = self._checked_sequences(sequences)
            finite &= np.array([np.isfinite(seq).all() for seq in sequences])
        for i, (prepared, vector, good) in enumerate(zip(self.pending, out, finite)):
            if good:
                self.kept_ids.append(prepared.clip_id)
                self.kept.append(vector)
                if sequences is not None:
                    self.kept_sequences.append(sequences[i])
                self.reasons[prepared.clip_id] = ""
                self.flags[prepared.clip_id] = prepared.flags
            else:
                self.reasons[prepared.clip_id] = "embedding has NaN or inf"
        self.pending.clear()

    def _checked_sequences(self, sequences) -> list[np.ndarray]:
        """One non-empty (T_i, D) float32 array per pending clip, D the features' width; else the model is broken."""
        arrays = [np.asarray(seq, dtype=np.float32) for seq in sequences]
        shapes = [a.shape for a in arrays]
        if len(arrays) != len(self.pending) or any(len(sh) != 2 or sh[0] < 1 or sh[1] != self.dim for sh in shapes):
            raise ValueError(f"embed_fn returned sequences of shapes {shapes[:4]} for a batch of {len(self.pending)} "
                             f"clips with {self.dim}-d features")
        return arrays

    def features(self) -> np.ndarray:
        return np.stack(self.kept) if self.kept else np.zeros((0, self.dim), np.float32)  # (N_ok, D)

    def status(self, records: list[dict]) -> list[dict]:
        """One status row per manifest row, in manifest order."""
        ids = [str(r["clip_id"]) for r in records]
        return [status_row(clip_id, self.reasons[clip_id], self.flags.get(clip_id, "")) for clip_id in ids]
