"""The model's side of a shard job: clips come in prepared (decoded, log-mel'd) and in manifest order; they leave
as kept feature rows or as a reason, one per clip.
"""

from __future__ import annotations

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


def status_row(clip_id: str, reason: str, flags: str = "") -> dict:
    return {"clip_id": clip_id, "status": SKIPPED if reason else OK, "reason": reason, "flags": flags}


class ShardCollector:
    """The model's side of a shard job: batches the prepared clips, embeds each batch, keeps every clip's outcome."""

    def __init__(self, embed: Callable[[list], np.ndarray], batch_size: int, *, dim: int,
                 stage: str = "model") -> None:
        self.embed, self.batch_size = embed, batch_size
        self.stage = stage  # the model's name among the recorded stage times
        self.pending: list[Prepared] = []
        self.kept_ids: list[str] = []
        self.kept: list[np.ndarray] = []
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
        out = np.asarray(self.embed([p.item for p in self.pending]), dtype=np.float32)
        elapsed = time.perf_counter() - t0
        self.model_seconds += elapsed
        add_stages({self.stage: elapsed})
        if out.ndim != 2 or out.shape[0] != len(self.pending):
            raise ValueError(f"embed_fn returned shape {out.shape} for a batch of {len(self.pending)} clips")
        if self.kept and out.shape[1] != self.kept[0].shape[0]:
            raise ValueError(f"embed_fn returned {out.shape[1]}-d features after {self.kept[0].shape[0]}-d ones")
        self.dim = int(out.shape[1])
        finite = np.isfinite(out).all(axis=1)
        for prepared, vector, good in zip(self.pending, out, finite):
            if good:
                self.kept_ids.append(prepared.clip_id)
                self.kept.append(vector)
                self.reasons[prepared.clip_id] = ""
                self.flags[prepared.clip_id] = prepared.flags
            else:
                self.reasons[prepared.clip_id] = "embedding has NaN or inf"
        self.pending.clear()

    def features(self) -> np.ndarray:
        return np.stack(self.kept) if self.kept else np.zeros((0, self.dim), np.float32)  # (N_ok, D)

    def status(self, records: list[dict]) -> list[dict]:
        """One status row per manifest row, in manifest order."""
        ids = [str(r["clip_id"]) for r in records]
        return [status_row(clip_id, self.reasons[clip_id], self.flags.get(clip_id, "")) for clip_id in ids]
