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
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from avgzsl.formats.atomic import atomic_output
from avgzsl.formats.safe_hdf5 import SafeHdf5, short

FORMAT_VERSION = 1
MODALITIES = ("audio", "video", "text")
STATUS_COLUMNS = ("clip_id", "status", "reason", "flags")
SILENT_AUDIO = "silent_audio"
log = logging.getLogger("avgzsl.formats.shards")


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


def read_feature_shard(path: str | os.PathLike, *, expected_dim: int | None = None) -> FeatureShard:
    """Read a shard as data only (avgzsl.formats.safe_hdf5) and refuse anything unfit for training.

    Attributes, dataset kinds, dtypes and declared shapes (rows against ids, columns against `dim` and
    `expected_dim`, at least one row) are all checked before a byte of the arrays is read.
    """
    path = Path(path)
    with SafeHdf5(path, what="a feature shard", error=FeatureError) as h5:
        version = h5.int_attr("format_version")
        if version != FORMAT_VERSION:
            raise FeatureError(f"{path}: attribute format_version is {version}, this reader knows {FORMAT_VERSION}")
        modality = h5.str_attr("modality")
        if modality not in MODALITIES:
            raise FeatureError(f"{path}: attribute modality is {short(modality)}, expected one of {MODALITIES}")
        dim = h5.int_attr("dim")
        if dim < 1:
            raise FeatureError(f"{path}: attribute dim is {dim}, expected the feature dimension (>= 1)")
        extractor = h5.str_attr("extractor", default="")
        hashed = h5.str_attr("settings_hash", default="")
        settings = h5.json_object_attr("settings", default={})
        features = h5.numeric("features", ndim=2)
        ids = h5.strings("ids")
        _check_declared(path, features.shape, ids.shape[0], dim, expected_dim)
        h5.check_stored("features", features)  # the larger array's bound first: refused before the ids are read
        id_list = h5.read_strings("ids", ids)
        array = h5.read_float32("features", features)
    _check(path, array, id_list, expected_dim=dim)
    return FeatureShard(features=array, ids=id_list, modality=modality, extractor=extractor,
                        settings_hash=hashed, settings=settings)


def _check_declared(path: Path, shape: tuple, n_ids: int, dim: int, expected_dim: int | None) -> None:
    """The declared shapes agree with each other and with what the caller expects; nothing is read yet."""
    rows, cols = shape
    if rows != n_ids:
        raise FeatureError(f"{path}: /features declares {rows} rows but /ids {n_ids} ids")
    if cols != dim:
        raise FeatureError(f"{path}: /features declares shape {shape}, which disagrees with its attribute dim={dim}")
    if expected_dim is not None and cols != expected_dim:
        raise FeatureError(f"{path}: features are {cols}-d, expected {expected_dim}-d")
    if rows == 0:
        _check_all_skipped(path)


def status_table_beside(path: Path) -> Path | None:
    """The status table an extraction wrote beside the shard (`x.status.tsv`, the workflow's, or `x.tsv`)."""
    for candidate in (path.with_suffix(".status.tsv"), path.with_suffix(".tsv")):
        if candidate.is_file() and not candidate.is_symlink():
            return candidate
    return None


def _check_all_skipped(path: Path) -> None:
    """A shard without rows is accepted only as an extraction's record that every clip of its shard was skipped:
    its status table beside it lists clips, none of them `ok`. Any other empty shard is a wrong file."""
    table_path = status_table_beside(path)
    try:
        table = read_status_table(table_path) if table_path is not None else None
    except ValueError as err:  # pandas' parser errors name no file
        raise FeatureError(f"{path}: the shard holds no rows, and its status table {table_path} is unreadable "
                           f"({str(err).splitlines()[0][:200] if str(err) else type(err).__name__})") from None
    if table is None or not len(table) or (table["status"] == "ok").any():
        raise FeatureError(f"{path}: the shard holds no rows, and no status table beside it records that every "
                           "clip of its shard was skipped")
    log.warning("%s: no rows: all %d clips of its shard were skipped (reasons in %s)", path, len(table), table_path)


def _check(path: Path, features: np.ndarray, ids: list[str], *, expected_dim: int) -> None:
    if features.shape[0] != len(ids):
        raise FeatureError(f"{path}: {features.shape[0]} feature rows but {len(ids)} ids")
    if features.shape[1] != expected_dim:
        raise FeatureError(f"{path}: features are {features.shape[1]}-d, expected {expected_dim}-d")
    finite = np.isfinite(features).all(axis=1)
    if not finite.all():
        bad = [ids[i] for i in np.flatnonzero(~finite)[:5]]
        raise FeatureError(f"{path}: NaN or inf in {int((~finite).sum())} row(s), e.g. clip {short(bad[0])} "
                           f"(first few: {', '.join(short(b) for b in bad)})")
    seen: set[str] = set()
    for clip in ids:
        if clip in seen:
            raise FeatureError(f"{path}: duplicate id {short(clip)}")
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
