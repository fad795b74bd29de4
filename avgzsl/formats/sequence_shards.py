"""Sequence shards: variable-length per-clip feature sequences (one vector per time window) on disk.

Temporal models (TCaF, `avgzsl.models.tcaf`) read one feature vector per window of a clip instead of the clip's
average. One HDF5 file holds the sequences of one shard of clips for one modality. Layout, format version 1:

    /values    float32 (sum of T_i, D)   every clip's windows, clip after clip, in the order of /ids
    /lengths   int64 (N,)                T_i, the number of windows of clip i (>= 1)
    /ids       utf-8 strings (N,)        clip ids
    attrs:     format_version=1, layout="sequence", modality ("audio" | "video"), dim (D),
               window_s, hop_s (seconds a window spans and between window starts; NaN where unknown),
               extractor, settings (JSON), settings_hash

Reading follows the same rules as `avgzsl.formats.shards`, and more, because sequence files also come from
other people's releases: the path must be a regular file (no link), every dataset a hard link inside the file
(no external or soft link, no virtual dataset, no external storage), of a numeric dtype, with its declared
shape checked against the attributes and /lengths before a byte of /values is read. `checked_dataset` is the
one place those checks live, so it can be routed through a shared safe HDF5 reader unchanged.
"""

from __future__ import annotations

import json
import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from avgzsl.formats.atomic import atomic_output
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
) -> Path:
    """Validate and write a shard atomically; `sequences[i]` is clip i's (T_i, D) array."""
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
    dim = dims.pop() if dims else 0
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


def check_regular_file(path: Path) -> None:
    """A shard is a regular file named directly: a link could point anywhere, a device or fifo never ends."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError as err:
        raise FileNotFoundError(f"sequence shard not found: {path}") from err
    if not stat.S_ISREG(mode):
        raise FeatureError(f"{path}: not a regular file (a link, folder or device); give the file itself")


def checked_dataset(f: h5py.File, key: str, path: Path, *, kinds: str, shape: tuple) -> h5py.Dataset:
    """The dataset /key, after every check that needs no read of its data.

    `kinds`: the numpy dtype kinds allowed ("f", "iu", "O" for strings); `shape`: the expected shape, None
    for a free axis. Refused: a missing key, a soft or external link, a group, a virtual dataset, external
    storage, another dtype, another shape.
    """
    link = f.get(key, getlink=True)
    if link is None:
        raise FeatureError(f"{path}: missing dataset /{key}")
    if not isinstance(link, h5py.HardLink):
        raise FeatureError(f"{path}: /{key} is a {type(link).__name__}; only data stored in the file is read")
    ds = f[key]
    if not isinstance(ds, h5py.Dataset):
        raise FeatureError(f"{path}: /{key} is not a dataset")
    if ds.is_virtual or ds.external:
        raise FeatureError(f"{path}: /{key} keeps its data outside the file (virtual or external storage)")
    if ds.dtype.kind not in kinds:
        raise FeatureError(f"{path}: /{key} has dtype {ds.dtype}; expected kind(s) {kinds!r}")
    if len(ds.shape) != len(shape) or any(e is not None and e != s for e, s in zip(shape, ds.shape)):
        raise FeatureError(f"{path}: /{key} has shape {ds.shape}; expected {shape}")
    return ds


def read_sequence_shard(path: str | os.PathLike, *, expected_dim: int | None = None) -> SequenceShard:
    """Read a whole shard, refusing anything unfit for training (see the module docstring)."""
    path = Path(path)
    check_regular_file(path)
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise FeatureError(f"{path}: not a readable HDF5 sequence shard ({err})") from err
    with f:
        attrs = dict(f.attrs)
        version = int(attrs.get("format_version", -1))
        if version != FORMAT_VERSION or attrs.get("layout") != LAYOUT:
            raise FeatureError(f"{path}: not a sequence shard of format {FORMAT_VERSION} "
                               f"(format_version {version}, layout {attrs.get('layout')!r})")
        dim = int(attrs.get("dim", -1))
        lengths_ds = checked_dataset(f, "lengths", path, kinds="iu", shape=(None,))
        n = lengths_ds.shape[0]
        ids_ds = checked_dataset(f, "ids", path, kinds="OSU", shape=(n,))
        lengths = lengths_ds[...].astype(np.int64)
        if (lengths < 1).any():
            raise FeatureError(f"{path}: /lengths holds a length below 1")
        values_ds = checked_dataset(f, "values", path, kinds="fiu", shape=(int(lengths.sum()), dim))
        values = values_ds[...].astype(np.float32, copy=False)
        ids = [i.decode() if isinstance(i, bytes) else str(i) for i in ids_ds[...]]
    if expected_dim is not None and dim != expected_dim:
        raise FeatureError(f"{path}: sequences are {dim}-d, expected {expected_dim}-d")
    modality = str(attrs.get("modality"))
    if modality not in MODALITIES:
        raise FeatureError(f"{path}: modality attribute {modality!r} is not one of {MODALITIES}")
    _check_content(path, values, lengths, ids)
    return SequenceShard(values, lengths, ids, modality, float(attrs.get("window_s", math.nan)),
                         float(attrs.get("hop_s", math.nan)), str(attrs.get("extractor", "")),
                         json.loads(attrs.get("settings", "{}")))


def _check_content(path: Path, values: np.ndarray, lengths: np.ndarray, ids: list[str]) -> None:
    if not np.isfinite(values).all():
        starts = np.concatenate([[0], np.cumsum(lengths)])
        row = int(np.flatnonzero(~np.isfinite(values).all(axis=1))[0])
        clip = ids[int(np.searchsorted(starts, row, side="right")) - 1]
        raise FeatureError(f"{path}: NaN or inf in the windows of clip {clip!r}")
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise FeatureError(f"{path}: duplicate id {dup!r}")
