"""Feature shards on disk.

One HDF5 file holds the features of one shard of clips for one modality (or, for
text, one vector per class). Layout, format version 1:

    /features   float32 (N, D)      one row per clip (or class)
    /ids        utf-8 strings (N,)  clip ids (class names for text)
    attrs:      format_version=1, modality ("audio" | "video" | "text"),
                extractor (name), settings_hash (12 hex chars), settings (JSON),
                dim (D)

Clips an extractor could not process are absent from /features and listed in the
shard's status table, a TSV beside it (`clip_id  status  reason  flags`), so that every
number in the file is a real feature and the reason for a gap is never lost:

    status   `ok` (the clip has a feature row) or `skipped`
    reason   for a skip, a sentence saying why (empty for `ok`)
    flags    comma-separated notes on a clip that was still used, empty when none:
             `silent_audio`  the decoded audio window peaks below the silence level
                             (DecodeConfig.silence_dbfs); its log-mel is the constant floor
             `rotated_90`, `rotated_180`, `rotated_270`  the video carried a display
                             rotation and its frames were turned upright
             Tables written before the column existed read back with empty flags.

Both files are written to a temporary name and renamed into place, so a job killed
mid-write leaves nothing that looks finished.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from avgzsl.formats.atomic import atomic_output

FORMAT_VERSION = 1
MODALITIES = ("audio", "video", "text")
STATUS_COLUMNS = ("clip_id", "status", "reason", "flags")
SILENT_AUDIO = "silent_audio"


class FeatureError(ValueError):
    """A feature file that must not be trained on; the message names file and clip."""


@dataclass
class FeatureShard:
    features: np.ndarray  # (N, D) float32
    ids: list[str]
    modality: str
    extractor: str
    settings_hash: str
    settings: dict

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])


def settings_hash(settings: dict) -> str:
    """A short stable hash of an extractor's settings (key order does not matter)."""
    canonical = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def write_feature_shard(
    path: str | os.PathLike,
    features: np.ndarray,
    ids: list[str],
    *,
    modality: str,
    extractor: str,
    settings: dict | None = None,
) -> Path:
    """Validate and write a shard atomically; returns the final path."""
    path = Path(path)
    settings = settings or {}
    features = np.asarray(features, dtype=np.float32)
    if features.ndim != 2:
        raise FeatureError(f"{path}: features must be 2-D, got shape {features.shape}")
    if modality not in MODALITIES:
        raise FeatureError(f"{path}: modality must be one of {MODALITIES}, got {modality!r}")
    ids = [str(i) for i in ids]
    _check(path, features, ids, expected_dim=features.shape[1])
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("features", data=features)
        f.create_dataset("ids", data=np.array(ids, dtype=object), dtype=h5py.string_dtype())
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["modality"] = modality
        f.attrs["extractor"] = extractor
        f.attrs["settings"] = json.dumps(settings, sort_keys=True, default=str)
        f.attrs["settings_hash"] = settings_hash(settings)
        f.attrs["dim"] = int(features.shape[1])
    return path


def read_shard_settings(path: str | os.PathLike) -> tuple[str, str, dict]:
    """A shard's (modality, settings hash, settings) from its attributes alone, without reading its features:
    what produced a feature set, cheap enough to ask of every shard of a full dataset."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"feature shard not found: {path}")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise FeatureError(f"{path}: not a readable HDF5 feature shard ({err})") from err
    with f:
        attrs = dict(f.attrs)
    if "modality" not in attrs:
        raise FeatureError(f"{path}: no modality attribute; not a feature shard")
    return str(attrs["modality"]), str(attrs.get("settings_hash", "")), json.loads(attrs.get("settings", "{}"))


def read_feature_shard(path: str | os.PathLike, *, expected_dim: int | None = None) -> FeatureShard:
    """Read a whole shard in one go and refuse anything unfit for training."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"feature shard not found: {path}")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise FeatureError(f"{path}: not a readable HDF5 feature shard ({err})") from err
    with f:
        for key in ("features", "ids"):
            if key not in f:
                raise FeatureError(f"{path}: missing dataset /{key}")
        version = int(f.attrs.get("format_version", -1))
        if version != FORMAT_VERSION:
            raise FeatureError(f"{path}: format_version {version}, this reader knows {FORMAT_VERSION}")
        features = f["features"][...].astype(np.float32, copy=False)
        ids = [i.decode() if isinstance(i, bytes) else str(i) for i in f["ids"][...]]
        attrs = dict(f.attrs)
    dim = int(attrs.get("dim", -1))
    if features.ndim != 2 or features.shape[1] != dim:
        raise FeatureError(f"{path}: features shape {features.shape} disagrees with dim={dim}")
    _check(path, features, ids, expected_dim=expected_dim if expected_dim is not None else dim)
    return FeatureShard(
        features=features,
        ids=ids,
        modality=str(attrs["modality"]),
        extractor=str(attrs.get("extractor", "")),
        settings_hash=str(attrs.get("settings_hash", "")),
        settings=json.loads(attrs.get("settings", "{}")),
    )


def _check(path: Path, features: np.ndarray, ids: list[str], *, expected_dim: int) -> None:
    if features.shape[0] != len(ids):
        raise FeatureError(f"{path}: {features.shape[0]} feature rows but {len(ids)} ids")
    if features.shape[1] != expected_dim:
        raise FeatureError(f"{path}: features are {features.shape[1]}-d, expected {expected_dim}-d")
    finite = np.isfinite(features).all(axis=1)
    if not finite.all():
        bad = [ids[i] for i in np.flatnonzero(~finite)[:5]]
        raise FeatureError(
            f"{path}: NaN or inf in {int((~finite).sum())} row(s), e.g. clip {bad[0]!r} (first few: {bad})"
        )
    seen: set[str] = set()
    for clip in ids:
        if clip in seen:
            raise FeatureError(f"{path}: duplicate id {clip!r}")
        seen.add(clip)


def write_status_table(path: str | os.PathLike, rows: list[dict] | pd.DataFrame) -> Path:
    """Write a shard's per-clip status (`ok` or a skip with its reason) atomically."""
    path = Path(path)
    table = pd.DataFrame(rows) if not isinstance(rows, pd.DataFrame) else rows.copy()
    if "flags" not in table.columns:
        table["flags"] = ""
    missing = set(STATUS_COLUMNS) - set(table.columns)
    if missing:
        raise ValueError(f"{path}: status table lacks columns {sorted(missing)}")
    table = table[list(STATUS_COLUMNS)].copy()
    # NaN reasons and flags (from pandas) would read back as the string "nan"
    for column in ("reason", "flags"):
        table[column] = [
            "" if (r is None or (isinstance(r, float) and math.isnan(r))) else str(r) for r in table[column]
        ]
    with atomic_output(path) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    return path


def read_status_table(path: str | os.PathLike) -> pd.DataFrame:
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    if "flags" not in table.columns:
        table["flags"] = ""  # written before the column existed
    missing = set(STATUS_COLUMNS) - set(table.columns)
    if missing:
        raise ValueError(f"{path}: status table lacks columns {sorted(missing)}")
    return table
