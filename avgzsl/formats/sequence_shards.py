"""Sequence shards: variable-length per-clip feature sequences (one vector per time window) on disk.

Temporal models (TCaF, `avgzsl.models.tcaf`) read one feature vector per window of a clip instead of the clip's
average. One HDF5 file holds the sequences of one shard of clips for one modality. Layout, format version 1:

    /values    float32 (sum of T_i, D)   every clip's windows, clip after clip, in the order of /ids
    /lengths   int64 (N,)                T_i, the number of windows of clip i (>= 1)
    /ids       utf-8 strings (N,)        clip ids
    attrs:     format_version=1, layout="sequence", modality ("audio" | "video"), dim (D),
               window_s, hop_s (seconds a window spans and between window starts; NaN where unknown),
               extractor, settings (JSON), settings_hash

Reading goes through the data-only reader every HDF5 input uses (`avgzsl.formats.safe_hdf5`: a regular file,
datasets stored in the file itself, numeric dtypes, every declared byte stored, bounded reads), and checks the
declared shapes against each other before /values is read: /lengths and /ids the same length, /values as many
rows as the lengths sum to and `dim` columns.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from avgzsl.formats.atomic import atomic_output
from avgzsl.formats.safe_hdf5 import SafeHdf5, short
from avgzsl.formats.shards import FeatureError, settings_hash

FORMAT_VERSION = 1
LAYOUT = "sequence"
MODALITIES = ("audio", "video")


@dataclass
class SequenceShard:
    values: np.ndarray  # (sum T_i, D) float32
    lengths: np.ndarray  # (N,) int64
    ids: list[str]
    modality: str
    window_s: float
    hop_s: float
    extractor: str = ""
    settings: dict | None = None

    @property
    def dim(self) -> int:
        return int(self.values.shape[1])

    def sequence(self, i: int) -> np.ndarray:
        """Clip i's (T_i, D) windows."""
        start = int(self.lengths[:i].sum())
        return self.values[start:start + int(self.lengths[i])]

    def means(self) -> np.ndarray:
        """(N, D): each clip's windows averaged, the clip-level feature every non-temporal model trains on."""
        starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)
        sums = np.add.reduceat(self.values.astype(np.float64), starts, axis=0) if len(starts) else self.values
        return (sums / self.lengths[:, None]).astype(np.float32)


def write_sequence_shard(
    path: str | os.PathLike, sequences: list[np.ndarray], ids: list[str], *, modality: str,
    window_s: float = math.nan, hop_s: float = math.nan, extractor: str = "", settings: dict | None = None,
    dim: int | None = None,
) -> Path:
    """Validate and write a shard atomically; `sequences[i]` is clip i's (T_i, D) array. `dim`: D, needed only
    for a shard without clips (every clip of a shard job may be skipped)."""
    path = Path(path)
    if modality not in MODALITIES:
        raise FeatureError(f"{path}: modality must be one of {MODALITIES}, got {modality!r}")
    if len(sequences) != len(ids):
        raise FeatureError(f"{path}: {len(sequences)} sequences but {len(ids)} ids")
    arrays = [np.asarray(s, dtype=np.float32) for s in sequences]
    bad = [str(i) for i, a in zip(ids, arrays) if a.ndim != 2 or a.shape[0] == 0]
    if bad:
        raise FeatureError(f"{path}: clip {bad[0]!r} is not a non-empty (T, D) sequence")
    dims = {a.shape[1] for a in arrays}
    if len(dims) > 1:
        raise FeatureError(f"{path}: sequences of different widths {sorted(dims)}")
    if dim is not None and dims - {dim}:
        raise FeatureError(f"{path}: sequences of width {sorted(dims)}, expected {dim}")
    dim = dims.pop() if dims else (dim or 0)
    values = np.concatenate(arrays) if arrays else np.zeros((0, dim), np.float32)
    lengths = np.array([a.shape[0] for a in arrays], dtype=np.int64)
    ids = [str(i) for i in ids]
    _check_content(path, values, lengths, ids)
    settings = settings or {}
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("values", data=values)
        f.create_dataset("lengths", data=lengths)
        f.create_dataset("ids", data=np.array(ids, dtype=object), dtype=h5py.string_dtype())
        f.attrs.update({
            "format_version": FORMAT_VERSION, "layout": LAYOUT, "modality": modality, "dim": int(dim),
            "window_s": float(window_s), "hop_s": float(hop_s), "extractor": extractor,
            "settings": json.dumps(settings, sort_keys=True, default=str), "settings_hash": settings_hash(settings),
        })
    return path


def read_sequence_shard(path: str | os.PathLike, *, expected_dim: int | None = None) -> SequenceShard:
    """Read a whole shard as data only, refusing anything unfit for training (see the module docstring)."""
    path = Path(path)
    with SafeHdf5(path, what="a sequence shard", error=FeatureError) as h5:
        version = h5.int_attr("format_version")
        layout = h5.str_attr("layout", default="")
        if version != FORMAT_VERSION or layout != LAYOUT:
            raise FeatureError(f"{path}: not a sequence shard of format {FORMAT_VERSION} (format_version "
                               f"{version}, layout {short(layout)})")
        modality = h5.str_attr("modality")
        if modality not in MODALITIES:
            raise FeatureError(f"{path}: attribute modality is {short(modality)}, expected one of {MODALITIES}")
        dim = h5.int_attr("dim")
        if dim < 1 or (expected_dim is not None and dim != expected_dim):
            raise FeatureError(f"{path}: attribute dim is {dim}, expected {expected_dim or 'the width (>= 1)'}")
        timing = {k: h5.float_attr(k, math.nan) for k in ("window_s", "hop_s")}
        extractor = h5.str_attr("extractor", default="")
        settings = h5.json_object_attr("settings", default={})
        lengths_ds, ids_ds, values_ds = h5.numeric("lengths", ndim=1), h5.strings("ids"), h5.numeric("values", ndim=2)
        if lengths_ds.shape[0] != ids_ds.shape[0] or values_ds.shape[1] != dim:
            raise FeatureError(f"{path}: /lengths {lengths_ds.shape}, /ids {ids_ds.shape} and /values "
                               f"{values_ds.shape} disagree with each other or with dim={dim}")
        h5.check_stored("values", values_ds)  # the large array's bound first, before anything is read
        lengths_f = h5.read_float32("lengths", lengths_ds)  # exact for lengths below 2**24
        lengths = lengths_f.astype(np.int64)
        if (lengths < 1).any() or (lengths != lengths_f).any():
            raise FeatureError(f"{path}: /lengths must be whole numbers >= 1")
        if int(lengths.sum()) != values_ds.shape[0]:
            raise FeatureError(f"{path}: /lengths sum to {int(lengths.sum())} windows but /values has "
                               f"{values_ds.shape[0]} rows")
        ids = h5.read_strings("ids", ids_ds)
        values = h5.read_float32("values", values_ds)
    _check_content(path, values, lengths, ids)
    return SequenceShard(values, lengths, ids, modality, timing["window_s"], timing["hop_s"], extractor, settings)


def _check_content(path: Path, values: np.ndarray, lengths: np.ndarray, ids: list[str]) -> None:
    if not np.isfinite(values).all():
        starts = np.concatenate([[0], np.cumsum(lengths)])
        row = int(np.flatnonzero(~np.isfinite(values).all(axis=1))[0])
        clip = ids[int(np.searchsorted(starts, row, side="right")) - 1]
        raise FeatureError(f"{path}: NaN or inf in the windows of clip {clip!r}")
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise FeatureError(f"{path}: duplicate id {dup!r}")
