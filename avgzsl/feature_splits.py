"""Manifests, class splits, and assembling a split into in-memory training tensors.

A manifest is a CSV with one row per clip and at least the columns
`clip_id, class, split` (split is `trn`, `val` or `tst`); extraction adds
`path` or `youtube_id` and the window `start, end` in seconds. A class table is
a TSV `name  seen` (seen: 1 or 0) listing every class in a fixed order; that
order is the column order of every score matrix.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import torch

from avgzsl.features import FeatureError, read_feature_shard

log = logging.getLogger("avgzsl.feature_splits")

SPLITS = ("trn", "val", "tst")
MANIFEST_COLUMNS = ("clip_id", "class", "split")


@dataclass
class ClassTable:
    names: list[str]
    seen: np.ndarray  # (C,) bool
    source: str | None = field(default=None, compare=False)  # the file it was read from, for messages

    def __post_init__(self) -> None:
        self.seen = np.array(self.seen, dtype=bool)  # a writable copy (torch.from_numpy warns on read-only)
        if len(set(self.names)) != len(self.names):
            raise ValueError("class table has duplicate class names")
        if len(self.names) != len(self.seen):
            raise ValueError("class table: names and seen flags differ in length")

    @property
    def seen_names(self) -> list[str]:
        return [n for n, s in zip(self.names, self.seen) if s]

    @property
    def unseen_names(self) -> list[str]:
        return [n for n, s in zip(self.names, self.seen) if not s]

    def index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.names)}

    def write(self, path: str | os.PathLike) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"name": self.names, "seen": self.seen.astype(int)}).to_csv(path, sep="\t", index=False)

    @classmethod
    def read(cls, path: str | os.PathLike) -> "ClassTable":
        table = _read_table(path, sep="\t", dtype={"name": str, "seen": str})
        missing = {"name", "seen"} - set(table.columns)
        if missing:
            raise ValueError(f"{path}: class table lacks column(s) {sorted(missing)} (expected: name<TAB>seen)")
        table["seen"] = table["seen"].str.strip()
        bad = table[~table["seen"].isin(["0", "1"]) | table["name"].isna()]
        if len(bad):
            row = bad.index[0] + 2  # 1-based, after the header line
            raise ValueError(f"{path}, line {row}: expected a class name and seen = 1 or 0, got "
                             f"{bad.iloc[0]['name']!r}, {bad.iloc[0]['seen']!r}")
        try:
            return cls(names=list(table["name"]), seen=(table["seen"] == "1").to_numpy(), source=str(path))
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from err

    @classmethod
    def from_lists(cls, all_classes: Sequence[str], unseen: Iterable[str]) -> "ClassTable":
        unseen = set(unseen)
        unknown = unseen - set(all_classes)
        if unknown:
            raise ValueError(f"unseen classes not in the class list: {sorted(unknown)}")
        return cls(names=list(all_classes), seen=np.array([c not in unseen for c in all_classes]))


def read_audiosetzsl_class_list(path: str | os.PathLike) -> list[str]:
    """Parse AudioSetZSL's `'name',` per line lists (the last line has no comma)."""
    names = []
    for line in Path(path).read_text().splitlines():
        line = line.strip().rstrip(",").strip()
        if line:
            names.append(line.strip("'\""))
    return names


def _read_table(path: str | os.PathLike, **kwargs) -> pd.DataFrame:
    """pandas' CSV reader with its errors (empty file, bad quoting, bad bytes) naming the file."""
    try:
        return pd.read_csv(path, **kwargs)
    except pd.errors.EmptyDataError as err:
        raise ValueError(f"{path}: the file is empty") from err
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a readable table ({err})") from err


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    manifest = _read_table(path, dtype={"clip_id": str, "class": str, "split": str})
    validate_manifest(manifest, source=str(path))
    manifest.attrs["source"] = str(path)  # later errors (unknown class, shards) name the file
    return manifest


def validate_manifest(manifest: pd.DataFrame, *, source: str | None = None, classes: ClassTable | None = None) -> None:
    source = source or manifest.attrs.get("source", "manifest")
    missing = set(MANIFEST_COLUMNS) - set(manifest.columns)
    if missing:
        raise ValueError(f"{source}: missing columns {sorted(missing)}")
    empty = manifest[list(MANIFEST_COLUMNS)].isna()
    if empty.any().any():
        row, column = empty.stack()[empty.stack()].index[0]
        raise ValueError(f"{source}, line {row + 2}: empty {column!r}")
    bad_split = sorted(set(manifest["split"]) - set(SPLITS))
    if bad_split:
        raise ValueError(f"{source}: unknown split value(s) {bad_split}; expected {SPLITS}")
    dup = manifest["clip_id"][manifest["clip_id"].duplicated()]
    if len(dup):
        raise ValueError(f"{source}: duplicate clip_id {dup.iloc[0]!r}")
    if classes is not None:
        unknown = sorted(set(manifest["class"]) - set(classes.names))
        if unknown:
            where = f" {classes.source}" if classes.source else ""
            raise ValueError(f"{source}: classes not in the class table{where}: {unknown}")


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
        )

    def seen_only(self) -> "FeatureSplit":
        return self.subset(self.seen[self.labels])


def _gather_modality(
    paths: Sequence[str | os.PathLike], clip_ids: pd.Index, *, modality: str, manifest_ids: pd.Index
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
        known = pd.Index(s.ids).isin(manifest_ids)
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
) -> FeatureSplit:
    """Assemble clips of the given split(s) that have at least one modality.

    A split whose manifest rows exist but none of which has a feature is an error, not an empty split.
    """
    splits = [splits] if isinstance(splits, str) else list(splits)
    validate_manifest(manifest, classes=classes)
    rows = manifest[manifest["split"].isin(splits)]
    clip_ids = pd.Index(rows["clip_id"].to_numpy())
    manifest_ids = pd.Index(manifest["clip_id"].to_numpy())
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
    return FeatureSplit(
        clip_ids=list(clip_ids[keep]),
        audio=torch.from_numpy(audio[keep]),
        video=torch.from_numpy(video[keep]),
        has_audio=torch.from_numpy(has_audio[keep]),
        has_video=torch.from_numpy(has_video[keep]),
        labels=torch.from_numpy(labels[keep].astype(np.int64)),
        text=load_text(text_path, classes),
        classes=classes,
    )
