"""A split assembled from feature shards into aligned in-memory tensors (FeatureSplit).

A split may also carry each clip's feature sequences (`audio_seq`, `video_seq`: `avgzsl.formats.sequences`,
read from sequence shards) for temporal models; its `audio` / `video` rows stay the clip-level features every
other model trains on (for imported temporal features, the sequences' means).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import torch

from avgzsl.formats.manifest import ClassTable, validate_manifest
from avgzsl.formats.sequence_shards import read_sequence_shard
from avgzsl.formats.sequences import Sequences
from avgzsl.formats.shards import FeatureError, read_feature_shard

log = logging.getLogger("avgzsl.formats.manifest")


@dataclass
class FeatureSplit:
    """One or more splits as aligned tensors; a missing modality is a zero row and a False mask."""

    clip_ids: list[str]
    audio: torch.Tensor  # (N, Da) float32
    video: torch.Tensor  # (N, Dv) float32
    has_audio: torch.Tensor  # (N,) bool
    has_video: torch.Tensor  # (N,) bool
    labels: torch.Tensor  # (N,) long, index into classes.names
    text: torch.Tensor  # (C, Dt) float32, one vector per class
    classes: ClassTable
    audio_seq: Sequences | None = None  # N clips' audio windows, or None
    video_seq: Sequences | None = None

    def __len__(self) -> int:
        return len(self.clip_ids)

    @property
    def seen(self) -> torch.Tensor:  # (C,) bool
        return torch.from_numpy(self.classes.seen)

    def subset(self, keep: torch.Tensor) -> "FeatureSplit":
        keep = torch.as_tensor(keep)
        idx = keep.nonzero().squeeze(1) if keep.dtype == torch.bool else keep
        ids = [self.clip_ids[i] for i in idx.tolist()]
        return FeatureSplit(
            clip_ids=ids,
            audio=self.audio[idx],
            video=self.video[idx],
            has_audio=self.has_audio[idx],
            has_video=self.has_video[idx],
            labels=self.labels[idx],
            text=self.text,
            classes=self.classes,
            audio_seq=self.audio_seq.subset(idx) if self.audio_seq is not None else None,
            video_seq=self.video_seq.subset(idx) if self.video_seq is not None else None,
        )

    def concat(self, other: "FeatureSplit") -> "FeatureSplit":
        if other.classes.names != self.classes.names:
            raise ValueError("cannot concatenate splits with different class tables")
        return FeatureSplit(
            clip_ids=self.clip_ids + other.clip_ids,
            audio=torch.cat([self.audio, other.audio]),
            video=torch.cat([self.video, other.video]),
            has_audio=torch.cat([self.has_audio, other.has_audio]),
            has_video=torch.cat([self.has_video, other.has_video]),
            labels=torch.cat([self.labels, other.labels]),
            text=self.text,
            classes=self.classes,
            audio_seq=_concat_sequences(self.audio_seq, other.audio_seq),
            video_seq=_concat_sequences(self.video_seq, other.video_seq),
        )

    def seen_only(self) -> "FeatureSplit":
        return self.subset(self.seen[self.labels])


def _concat_sequences(a: Sequences | None, b: Sequences | None) -> Sequences | None:
    if (a is None) != (b is None):
        raise ValueError("cannot concatenate a split with sequences and one without")
    return a.concat(b) if a is not None else None


def gather_sequences(paths: Sequence[str | os.PathLike], clip_ids: list[str], *, modality: str) -> Sequences | None:
    """The sequences of `clip_ids`, in that order, from sequence shards; None without shards. Every clip
    must have one: sequences sit beside a split's clip-level rows, which they must match one to one."""
    if not paths:
        return None
    shards = [read_sequence_shard(p) for p in paths]
    for p, s in zip(paths, shards):
        if s.modality != modality:
            raise FeatureError(f"{p}: its modality attribute is {s.modality!r}, but it was given as {modality} sequences")
    if len({s.dim for s in shards}) != 1:
        raise FeatureError(f"sequence shards of one modality disagree in dimension: {[str(p) for p in paths]}")
    parts = [Sequences.from_arrays(s.values, s.lengths, window_s=s.window_s, hop_s=s.hop_s) for s in shards]
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.concat(part)
    ids = pd.Index([i for s in shards for i in s.ids])
    if ids.has_duplicates:
        raise FeatureError(f"clip {ids[ids.duplicated()][0]!r} appears in more than one sequence shard")
    pos = ids.get_indexer(clip_ids)
    if (pos < 0).any():
        missing = [c for c, p in zip(clip_ids, pos) if p < 0]
        raise FeatureError(f"no {modality} sequence for clip(s) {missing[:5]} in {[str(p) for p in paths]}")
    return merged.subset(torch.from_numpy(pos.astype(np.int64)))


def _gather_modality(
    paths: Sequence[str | os.PathLike], clip_ids: pd.Index, *, modality: str, manifest_ids: set[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Stack shards, then place each clip's row by id in one vectorised gather.

    Every shard must carry `modality` in its modality attribute and share at least one id with the manifest
    (all splits): a shard matching nothing is a wrong file, not a shard of missing clips.
    """
    if not paths:
        return np.zeros((len(clip_ids), 0), np.float32), np.zeros(len(clip_ids), bool)
    shards = [read_feature_shard(p) for p in paths]
    for p, s in zip(paths, shards):
        if s.modality != modality:
            raise FeatureError(f"{p}: its modality attribute is {s.modality!r}, but it was given as {modality} features")
        known = np.fromiter((i in manifest_ids for i in s.ids), dtype=bool, count=len(s.ids))
        if len(s.ids) and not known.any():
            raise FeatureError(
                f"{p}: none of its {len(s.ids)} clip ids (e.g. {s.ids[0]!r}) is in the manifest; "
                "is it a shard of another dataset?"
            )
        if not known.all():
            log.warning("%s: %d of its %d clip ids are not in the manifest and are ignored", p,
                        int((~known).sum()), len(s.ids))
    dims = {s.dim for s in shards}
    if len(dims) != 1:
        detail = ", ".join(f"{p}: {s.dim}-d" for p, s in zip(paths, shards))
        raise FeatureError(f"shards of one modality disagree in dimension ({detail})")
    features = np.concatenate([s.features for s in shards]) if len(shards) > 1 else shards[0].features
    ids = pd.Index([i for s in shards for i in s.ids])
    if ids.has_duplicates:
        dup = ids[ids.duplicated()][0]
        where = [str(p) for p, s in zip(paths, shards) if dup in s.ids]
        raise FeatureError(f"clip {dup!r} appears in more than one shard: {where}")
    pos = ids.get_indexer(clip_ids)  # -1 where the clip has no feature
    present = pos >= 0
    out = np.zeros((len(clip_ids), features.shape[1]), np.float32)
    out[present] = features[pos[present]]
    return out, present


def load_text(path: str | os.PathLike, classes: ClassTable) -> torch.Tensor:
    shard = read_feature_shard(path)
    if shard.modality != "text":
        raise FeatureError(f"{path}: its modality attribute is {shard.modality!r}, but it was given as the text shard")
    pos = pd.Index(shard.ids).get_indexer(classes.names)
    if (pos < 0).any():
        missing = [n for n, p in zip(classes.names, pos) if p < 0]
        raise FeatureError(f"{path}: no text vector for class(es) {missing}")
    return torch.from_numpy(shard.features[pos].copy())


def load_split(
    manifest: pd.DataFrame,
    splits: str | Sequence[str],
    *,
    classes: ClassTable,
    text_path: str | os.PathLike,
    audio_paths: Sequence[str | os.PathLike] = (),
    video_paths: Sequence[str | os.PathLike] = (),
    audio_seq_paths: Sequence[str | os.PathLike] = (),
    video_seq_paths: Sequence[str | os.PathLike] = (),
) -> FeatureSplit:
    """Assemble clips of the given split(s) that have at least one modality.

    A split whose manifest rows exist but none of which has a feature is an error, not an empty split.
    With sequence shards, every kept clip must also have its sequences (`gather_sequences`).
    """
    splits = [splits] if isinstance(splits, str) else list(splits)
    validate_manifest(manifest, classes=classes)
    rows = manifest[manifest["split"].isin(splits)]
    clip_ids = pd.Index(rows["clip_id"].to_numpy())
    # a hash set, built once for both modalities: Index.isin on pandas' string arrays rebuilds its lookup on
    # every call, once per shard
    manifest_ids = set(manifest["clip_id"])
    audio, has_audio = _gather_modality(audio_paths, clip_ids, modality="audio", manifest_ids=manifest_ids)
    video, has_video = _gather_modality(video_paths, clip_ids, modality="video", manifest_ids=manifest_ids)
    keep = has_audio | has_video
    if len(rows) and not keep.any():
        given = [str(p) for p in [*audio_paths, *video_paths]]
        raise FeatureError(
            f"{manifest.attrs.get('source', 'manifest')}: split {'+'.join(splits)}: none of its {len(rows)} clips "
            f"has audio or video features in the shards given ({given if given else 'no shards'})"
        )
    labels = pd.Index(classes.names).get_indexer(rows["class"].to_numpy())
    kept = list(clip_ids[keep])
    return FeatureSplit(
        clip_ids=kept,
        audio=torch.from_numpy(audio[keep]),
        video=torch.from_numpy(video[keep]),
        has_audio=torch.from_numpy(has_audio[keep]),
        has_video=torch.from_numpy(has_video[keep]),
        labels=torch.from_numpy(labels[keep].astype(np.int64)),
        text=load_text(text_path, classes),
        classes=classes,
        audio_seq=gather_sequences(audio_seq_paths, kept, modality="audio"),
        video_seq=gather_sequences(video_seq_paths, kept, modality="video"),
    )
