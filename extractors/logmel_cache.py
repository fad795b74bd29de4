"""On-disk log-mel cache: one float16 `.npy` per media shard, read back clip by clip with bounded memory.

Training the audio CNN on every seen-class train clip of AudioSetZSL (~80k clips x 64 mels x 1001
frames) would hold ~10 GB of float16 log-mels in memory. Instead each media shard's log-mels are
written, as they are computed, to `<name>.npy` (a plain numpy array (rows, n_mels, frames), so
`np.load(..., mmap_mode="r")` works for inspection) with `<name>.tsv` beside it: one row per clip
of the shard with its cache row (-1 when skipped), status, reason and flags (as in the shard status
tables), class and split. A
`<name>.json` records the decode / log-mel settings; a cache whose settings or clip list differ
from what is asked is rewritten, so a resumed training run reuses the finished shards.

`LogMelStore` reads clips with `os.preadv` into one reused buffer per batch, not through a memory
map: pages of a mapped file count towards the process's resident memory for as long as they stay
mapped, while the kernel's page cache behind `pread` is reclaimable and not charged to the process.
"""

from __future__ import annotations

import json
import os
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from avgzsl_extractors.decode import DecodeConfig
from avgzsl_extractors.extract import ExtractJobConfig, _audio_preparer, _check_rates, _records
from avgzsl_extractors.logmel import LogMelConfig
from avgzsl_extractors.prefetch import ProgressLog, prefetched
from avgzsl_extractors.shard_collector import status_row

from avgzsl.formats.atomic import atomic_output

CACHE_DTYPE = np.dtype(np.float16)  # log-mels in dB (about -100..+40) keep ~3 significant digits
INDEX_COLUMNS = ("clip_id", "row", "status", "reason", "flags")


@dataclass
class CacheFiles:
    array: Path  # <stem>.npy
    index: Path  # <stem>.tsv
    settings: Path  # <stem>.json

    @classmethod
    def for_stem(cls, stem: str | os.PathLike) -> "CacheFiles":
        stem = Path(stem)
        return cls(stem.with_suffix(".npy"), stem.with_suffix(".tsv"), stem.with_suffix(".json"))


def _header(shape: tuple[int, ...]) -> bytes:
    """The .npy v1.0 header of a C-ordered float16 array of `shape`."""
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": np.lib.format.dtype_to_descr(CACHE_DTYPE), "fortran_order": False, "shape": shape}
    )
    return buf.getvalue()


class CacheWriter:
    """Appends (n_mels, frames) spectrograms to a float16 .npy whose header is written for `capacity` rows.

    On close the header is rewritten with the rows actually written and the file truncated, so the
    array on disk holds exactly the cached clips. Used as a context manager around a temporary path.
    """

    def __init__(self, path: Path, capacity: int, n_mels: int, frames: int) -> None:
        self.path, self.n_mels, self.frames = path, n_mels, frames
        self.rows = 0
        self._file = open(path, "wb")
        self._capacity_header = _header((capacity, n_mels, frames))
        self._file.write(self._capacity_header)

    def append(self, spec: np.ndarray) -> int:
        if spec.shape != (self.n_mels, self.frames):
            raise ValueError(f"{self.path}: spectrogram {spec.shape}, cache holds ({self.n_mels}, {self.frames})")
        self._file.write(np.ascontiguousarray(spec, dtype=CACHE_DTYPE).tobytes())
        self.rows += 1
        return self.rows - 1

    def close(self) -> None:
        final = _header((self.rows, self.n_mels, self.frames))
        if len(final) != len(self._capacity_header):
            # numpy pads the header so the first axis can grow in place; a different length is a numpy change
            raise RuntimeError(f"{self.path}: .npy header length changed from {len(self._capacity_header)} "
                               f"to {len(final)} bytes; cannot finish the cache in place")
        self._file.seek(0)
        self._file.write(final)
        self._file.truncate(len(final) + self.rows * self.n_mels * self.frames * CACHE_DTYPE.itemsize)
        self._file.close()

    def __enter__(self) -> "CacheWriter":
        return self

    def __exit__(self, *exc) -> None:
        if not self._file.closed:
            if exc[0] is None:
                self.close()
            else:
                self._file.close()


def cache_settings(logmel_cfg: LogMelConfig, decode_cfg: DecodeConfig, frames: int) -> dict:
    return {"decode": asdict(decode_cfg), "logmel": asdict(logmel_cfg), "frames": int(frames),
            "dtype": CACHE_DTYPE.name}


def cache_is_current(files: CacheFiles, settings: dict, clip_ids: Sequence[str]) -> bool:
    """True when all three files exist, were written with `settings` and list exactly `clip_ids`."""
    if not (files.array.is_file() and files.index.is_file() and files.settings.is_file()):
        return False
    try:
        recorded = json.loads(files.settings.read_text())
    except json.JSONDecodeError:
        return False
    if recorded != json.loads(json.dumps(settings)):
        return False
    index = pd.read_csv(files.index, sep="\t", dtype={"clip_id": str}, keep_default_na=False)
    return list(index["clip_id"]) == [str(c) for c in clip_ids]


def write_logmel_cache(
    rows: pd.DataFrame,
    stem: str | os.PathLike,
    *,
    logmel_cfg: LogMelConfig,
    decode_cfg: DecodeConfig,
    frames: int,
    job: ExtractJobConfig | None = None,
    extra_columns: Sequence[str] = ("class", "split"),
) -> CacheFiles:
    """Decode `rows` (clip_id, path, start, end, ...) and write their fixed-length log-mels to the cache at `stem`.

    Memory stays at the decode look-ahead (a few clips); columns of `extra_columns` present in `rows` are
    copied into the index so the cache alone tells what each row is. The settings file is written last:
    a cache without it is unfinished and is rewritten.
    """
    job = job or ExtractJobConfig(progress=False)
    _check_rates(logmel_cfg, decode_cfg)
    files = CacheFiles.for_stem(stem)
    files.settings.unlink(missing_ok=True)
    records = _records(rows)
    prepare = _audio_preparer(logmel_cfg, decode_cfg, frames, job)
    index: list[dict] = []
    progress = ProgressLog(len(records), f"log-mel cache {files.array.name}", interval=job.progress_interval)
    with atomic_output(files.array) as tmp_array:
        with CacheWriter(tmp_array, len(records), logmel_cfg.n_mels, frames) as writer, \
                closing(prefetched(prepare, records, job.workers, job.lookahead, processes=job.processes)) as stream:
            for record, prepared in zip(records, stream):
                progress.update(1)
                row = -1 if prepared.item is None else writer.append(prepared.item)
                entry = {**status_row(prepared.clip_id, prepared.reason, prepared.flags), "row": row}
                entry.update({c: record[c] for c in extra_columns if c in record})
                index.append(entry)
        progress.finish()
        columns = [*INDEX_COLUMNS, *[c for c in extra_columns if c in rows.columns]]
        with atomic_output(files.index) as tmp_index:
            pd.DataFrame(index, columns=columns).to_csv(tmp_index, sep="\t", index=False)
    with atomic_output(files.settings) as tmp_settings:
        tmp_settings.write_text(json.dumps(cache_settings(logmel_cfg, decode_cfg, frames), sort_keys=True))
    return files


def read_cache_index(files: CacheFiles) -> pd.DataFrame:
    return pd.read_csv(files.index, sep="\t", dtype={"clip_id": str, "reason": str, "flags": str},
                       keep_default_na=False)


def npy_layout(path: Path) -> tuple[int, tuple[int, ...], np.dtype]:
    """(data offset, shape, dtype) of a C-ordered .npy file, without reading its data."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        if fortran or len(shape) != 3:
            raise ValueError(f"{path}: expected a C-ordered (clips, n_mels, frames) array, got shape {shape}")
        return f.tell(), tuple(shape), np.dtype(dtype)


class LogMelStore:
    """Clips from one or more cache arrays as one sequence; `read(indices)` loads just those clips.

    parts: (path to a cache .npy, the rows of it that belong to this store, in store order).
    Each clip is one contiguous record, so a batch costs one `preadv` per clip into a single buffer.
    """

    def __init__(self, parts: Sequence[tuple[str | os.PathLike, Sequence[int]]]) -> None:
        self._fds: list[int] = []
        self._offsets: list[int] = []
        file_of, row_of = [], []
        shape = None
        for k, (path, rows) in enumerate(parts):
            offset, file_shape, dtype = npy_layout(Path(path))
            if dtype != CACHE_DTYPE:
                raise ValueError(f"{path}: cache dtype {dtype}, expected {CACHE_DTYPE}")
            if shape is not None and file_shape[1:] != shape:
                raise ValueError(f"{path}: spectrograms {file_shape[1:]} differ from the other caches' {shape}")
            shape = file_shape[1:]
            rows = np.asarray(rows, dtype=np.int64)
            if len(rows) and (rows.min() < 0 or rows.max() >= file_shape[0]):
                raise ValueError(f"{path}: rows outside 0..{file_shape[0] - 1}")
            self._fds.append(os.open(path, os.O_RDONLY))
            self._offsets.append(offset)
            file_of.append(np.full(len(rows), k, dtype=np.int64))
            row_of.append(rows)
        if shape is None:
            raise ValueError("a log-mel store needs at least one cache file")
        self.n_mels, self.frames = int(shape[0]), int(shape[1])
        self._record = self.n_mels * self.frames * CACHE_DTYPE.itemsize
        self._file = np.concatenate(file_of)
        self._row = np.concatenate(row_of)

    def __len__(self) -> int:
        return len(self._row)

    def shapes(self, indices: Sequence[int]) -> list[tuple[int, ...]]:
        return [(self.n_mels, self.frames)] * len(indices)

    def read(self, indices: Sequence[int]) -> np.ndarray:
        """(len(indices), n_mels, frames) float16, in the order asked."""
        out = np.empty((len(indices), self.n_mels, self.frames), dtype=CACHE_DTYPE)
        view = memoryview(out.reshape(-1).view(np.uint8))  # 1-D bytes: slices are one clip each
        for j, i in enumerate(indices):
            k = int(self._file[i])
            pos = self._offsets[k] + int(self._row[i]) * self._record
            got = os.preadv(self._fds[k], [view[j * self._record : (j + 1) * self._record]], pos)
            if got != self._record:
                raise OSError(f"short read of clip {i} from cache file {k}: {got} of {self._record} bytes")
        return out

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds = []

    def __enter__(self) -> "LogMelStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
