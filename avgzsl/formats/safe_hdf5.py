"""Reading HDF5 files from other people as data only: the one reader every HDF5 input goes through.

Feature shards, released feature folders (`<class>.h5` with `data` / `video_urls`) and the text shard come
from other labs as often as from this pipeline. HDF5 lets a dataset's bytes live elsewhere: in raw external
files (`external=`), behind external or soft links, or in a virtual dataset that maps other files (and reads
as fill values where a source is missing). A plain `f[name][...]` follows all of these, and reads the whole
declared array before anyone can compare its shape with anything. This module refuses, before reading a byte
of data:

* a path that is not a regular file: a folder, a FIFO (which would hang), a device, or a symbolic link (the
  last component of the path; folders above it may be links, since they are the user's own layout). With
  `within`, the resolved file must also lie inside that folder (a released folder's root);
* an entry that is a soft or external link, a group, or a named datatype where a dataset is expected;
* a dataset with external raw storage, a virtual dataset, or a filter other than HDF5's built-in ones (an
  unknown filter id makes HDF5 look for a plugin library to load);
* a dataset whose bytes are not all stored in the file: unallocated contiguous storage or missing chunks
  read silently as fill values, and storage claimed past the end of the file is a truncated file;
* a non-numeric dtype where numbers are expected (compound, string, bool, complex, enum, opaque, arrays), and
  anything but strings where ids are expected;
* a declared size above what could ever be read: checked by the caller against the ids and the dimension
  first, then here against the machine's physical memory.

Numbers are read in blocks of at most BLOCK_BYTES into one preallocated float32 array, so a file costs its
own data size and a constant. Errors are one line naming the file, the dataset or attribute and what is
wrong; file contents appear only as a short escaped excerpt (`short`). The error type is the caller's own
ValueError subclass (`error=`), so each format's callers still catch one kind.

What is not defended: a file replaced between the checks and `h5py.File` opening it (the input folders are
the user's own), and a decompression that is slow rather than large.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import h5py
import numpy as np

from avgzsl.formats.input_files import byte_size, check_regular_file, first_line, physical_memory, short

BLOCK_BYTES = 64 << 20  # rows are read in blocks of at most this many bytes of float32
MAX_STRING_BYTES = 4096  # one id or class name; ours are at most 200 characters
MAX_ATTR_BYTES = 1 << 20  # one attribute (the settings JSON is the largest we write, well under 1 KB)
# HDF5's built-in filters and h5py's LZF; any other id would make HDF5 search for a plugin library
BUILTIN_FILTERS = {
    h5py.h5z.FILTER_DEFLATE, h5py.h5z.FILTER_SHUFFLE, h5py.h5z.FILTER_FLETCHER32, h5py.h5z.FILTER_SZIP,
    h5py.h5z.FILTER_NBIT, h5py.h5z.FILTER_SCALEOFFSET, h5py.h5z.FILTER_LZF,
}


class Hdf5InputError(ValueError):
    """An HDF5 file that cannot be read as plain data; the message names the file and what is wrong."""


class SafeHdf5:
    """An HDF5 file opened for reading plain data only (a context manager); see the module's docstring."""

    def __init__(self, path: str | os.PathLike, *, what: str = "an HDF5 file",
                 error: type[ValueError] = Hdf5InputError, within: str | os.PathLike | None = None):
        self.path, self.what, self.error = Path(path), what, error
        self.within = Path(within) if within is not None else None
        self.file: h5py.File | None = None
        self.size = 0

    def __enter__(self) -> "SafeHdf5":
        self.size = check_regular_file(self.path, what=self.what, error=self.error, within=self.within)
        try:
            self.file = h5py.File(self.path, "r")
        except OSError as err:
            raise self.error(f"{self.path}: not a readable HDF5 file ({first_line(err)})") from err
        return self

    def __exit__(self, *exc) -> None:
        if self.file is not None:
            self.file.close()

    def fail(self, message: str) -> ValueError:
        return self.error(f"{self.path}: {message}")

    # ---- datasets ---------------------------------------------------------------------------

    def has(self, name: str) -> bool:
        """Whether the root group holds an entry `name`, of any kind (nothing is followed or opened)."""
        return self.file.get(name, getlink=True) is not None

    def dataset(self, name: str) -> h5py.Dataset:
        """The dataset `name` of the root group, stored in this file and nowhere else."""
        link = self.file.get(name, getlink=True)
        if link is None:
            raise self.fail(f"missing dataset /{name}")
        if isinstance(link, h5py.ExternalLink):
            raise self.fail(f"/{name} is an external link (to {short(link.filename, 80)}); "
                            "only data stored in the file itself is read")
        if isinstance(link, h5py.SoftLink):
            raise self.fail(f"/{name} is a soft link (to {short(link.path, 80)}); only a dataset itself is read")
        try:
            node = self.file[name]
        except (KeyError, OSError, ValueError, TypeError) as err:
            raise self.fail(f"cannot open /{name} ({first_line(err)})") from err
        if not isinstance(node, h5py.Dataset):
            kind = "a group" if isinstance(node, h5py.Group) else type(node).__name__
            raise self.fail(f"/{name} is {kind}, not a dataset")
        self._check_storage(name, node)
        return node

    def _check_storage(self, name: str, dset: h5py.Dataset) -> None:
        plist = dset.id.get_create_plist()
        if plist.get_external_count() > 0:
            first = plist.get_external(0)[0]
            raise self.fail(f"/{name} keeps its data in external file(s) (e.g. {short(first, 80)}); "
                            "only data stored in the file itself is read")
        if plist.get_layout() == h5py.h5d.VIRTUAL:
            raise self.fail(f"/{name} is a virtual dataset (a view of other files); "
                            "only data stored in the file itself is read")
        for i in range(plist.get_nfilters()):
            code = plist.get_filter(i)[0]
            if code not in BUILTIN_FILTERS:
                raise self.fail(f"/{name} needs HDF5 filter {code}, not one of the built-in filters; "
                                "it is not read (it would load a plugin library)")

    def numeric(self, name: str, ndim: int) -> h5py.Dataset:
        """The dataset `name`, checked to hold plain integers or floats in `ndim` dimensions."""
        dset = self.dataset(name)
        dtype = dset.dtype
        if dtype.kind not in "fiu" or dtype.fields is not None or dtype.subdtype is not None or \
                h5py.check_enum_dtype(dtype) is not None:
            raise self.fail(f"/{name} holds {_dtype_name(dtype)} values, expected numbers")
        if len(dset.shape or ()) != ndim:
            raise self.fail(f"/{name} has shape {dset.shape}, expected {ndim} dimension(s)")
        return dset

    def strings(self, name: str) -> h5py.Dataset:
        """The dataset `name`, checked to hold a 1-D list of strings of bounded length."""
        dset = self.dataset(name)
        string = h5py.check_string_dtype(dset.dtype)
        if string is None:
            raise self.fail(f"/{name} holds {_dtype_name(dset.dtype)} values, expected strings")
        if len(dset.shape or ()) != 1:
            raise self.fail(f"/{name} has shape {dset.shape}, expected a 1-D list")
        if string.length is not None and string.length > MAX_STRING_BYTES:
            raise self.fail(f"/{name} declares strings of {string.length} bytes (at most {MAX_STRING_BYTES})")
        return dset

    def check_stored(self, name: str, dset: h5py.Dataset, *, out_itemsize: int = 4) -> None:
        """Every declared byte is stored in this file, and the array fits in memory (nothing is read)."""
        shape = dset.shape
        count = math.prod(shape)
        need = count * out_itemsize
        memory = physical_memory()
        if need > memory:
            raise self.fail(f"/{name} declares shape {shape}: {byte_size(need)}, more than this machine's "
                            f"{byte_size(memory)} of memory")
        declared = count * dset.id.get_type().get_size()
        layout = dset.id.get_create_plist().get_layout()
        stored = dset.id.get_storage_size()
        if layout == h5py.h5d.CONTIGUOUS:
            offset = dset.id.get_offset()
            if count and (offset is None or stored < declared):
                raise self.fail(f"/{name} declares shape {shape} ({byte_size(declared)}) but stores {byte_size(stored)} "
                                "of it; the rest would read as fill values")
            if count and offset + stored > self.size:
                raise self.fail(f"/{name}: its data lies past the end of the {byte_size(self.size)} file "
                                "(truncated?)")
        elif layout == h5py.h5d.CHUNKED:
            grid = math.prod(math.ceil(s / c) for s, c in zip(shape, dset.chunks))
            have = dset.id.get_num_chunks()
            if have < grid:
                raise self.fail(f"/{name} declares shape {shape} but stores {have} of its {grid} chunks; "
                                "the rest would read as fill values")
            if stored > self.size:
                raise self.fail(f"/{name}: claims {byte_size(stored)} of storage in a {byte_size(self.size)} file "
                                "(truncated?)")

    def read_float32(self, name: str, dset: h5py.Dataset) -> np.ndarray:
        """The checked numeric dataset as float32, read in bounded row blocks into one preallocated array."""
        self.check_stored(name, dset)
        shape = dset.shape
        try:
            out = np.empty(shape, np.float32)
        except MemoryError:
            raise self.fail(f"/{name}: no memory for its {shape} values") from None
        if out.size == 0:
            return out
        row_bytes = max(1, math.prod(shape[1:]) * max(4, dset.dtype.itemsize))
        step = max(1, BLOCK_BYTES // row_bytes)
        try:
            for start in range(0, shape[0], step):
                block = np.s_[start:min(shape[0], start + step)]
                dset.read_direct(out, source_sel=block, dest_sel=block)  # HDF5 converts to float32 in place
        except (OSError, ValueError, TypeError, RuntimeError) as err:
            raise self.fail(f"cannot read /{name}, the file may be truncated or damaged "
                            f"({first_line(err)})") from err
        return out

    def read_strings(self, name: str, dset: h5py.Dataset) -> list[str]:
        """The checked string dataset as a list of str; a value that is not UTF-8 is an error naming its row."""
        self.check_stored(name, dset, out_itemsize=8)
        rows = dset.shape[0]
        step = max(1, BLOCK_BYTES // 64)
        values: list[str] = []
        try:
            for start in range(0, rows, step):
                values.extend(self._decode(name, start, dset[start:min(rows, start + step)]))
        except (OSError, TypeError, RuntimeError) as err:
            raise self.fail(f"cannot read /{name}, the file may be truncated or damaged "
                            f"({first_line(err)})") from err
        return values

    def _decode(self, name: str, start: int, raw: np.ndarray) -> list[str]:
        """One block of strings; the plain case in one comprehension (the ids of a whole dataset pass here)."""
        if len(raw) and max(map(len, raw)) > MAX_STRING_BYTES:
            row = start + next(i for i, v in enumerate(raw) if len(v) > MAX_STRING_BYTES)
            raise self.fail(f"/{name} row {row}: a string of {len(raw[row - start])} bytes "
                            f"(at most {MAX_STRING_BYTES}), starting {short(raw[row - start])}")
        try:
            return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in raw]
        except UnicodeDecodeError:
            row = start + next(i for i, v in enumerate(raw) if isinstance(v, bytes) and not _is_utf8(v))
            raise self.fail(f"/{name} row {row} is not UTF-8 text: {short(raw[row - start])}") from None

    # ---- attributes -------------------------------------------------------------------------

    def _attr(self, name: str):
        try:
            stored = h5py.h5a.open(self.file.id, name.encode()).get_storage_size()
        except (OSError, KeyError) as err:
            raise self.fail(f"cannot open attribute {name} ({first_line(err)})") from err
        if stored > MAX_ATTR_BYTES:
            raise self.fail(f"attribute {name} holds {byte_size(stored)} (at most {byte_size(MAX_ATTR_BYTES)})")
        try:
            value = self.file.attrs[name]
        except UnicodeDecodeError:
            raise self.fail(f"attribute {name} is not UTF-8 text") from None
        except (OSError, KeyError, TypeError, ValueError) as err:  # a type h5py cannot map, a damaged header
            raise self.fail(f"cannot read attribute {name} ({first_line(err)})") from err
        if isinstance(value, np.ndarray) and value.shape in ((), (1,)):
            value = value.reshape(()).item() if value.dtype.kind != "O" else value.reshape(-1)[0]
        return value.item() if isinstance(value, np.generic) else value

    def int_attr(self, name: str) -> int:
        """A required integer attribute (a string such as "9", a float or an array is an error)."""
        if name not in self.file.attrs:
            raise self.fail(f"missing attribute {name}")
        value = self._attr(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"attribute {name} must be an integer, got {_kind(value)}")
        return value

    def str_attr(self, name: str, default: str | None = None) -> str:
        """A text attribute; `default` when absent (None: the attribute is required)."""
        if name not in self.file.attrs:
            if default is None:
                raise self.fail(f"missing attribute {name}")
            return default
        value = self._attr(name)
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                raise self.fail(f"attribute {name} is not UTF-8 text") from None
        if not isinstance(value, str):
            raise self.fail(f"attribute {name} must be text, got {_kind(value)}")
        return value

    def json_object_attr(self, name: str, default: dict) -> dict:
        """A JSON object stored as a text attribute; `default` when absent."""
        if name not in self.file.attrs:
            return default
        try:
            value = json.loads(self.str_attr(name))
        except json.JSONDecodeError as err:
            raise self.fail(f"attribute {name} is not valid JSON ({err.msg} at position {err.pos})") from None
        if not isinstance(value, dict):
            raise self.fail(f"attribute {name} must be a JSON object, got {_kind(value)}")
        return value


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _dtype_name(dtype: np.dtype) -> str:
    if dtype.fields is not None:
        return "compound"
    if h5py.check_string_dtype(dtype) is not None or dtype.kind in "SU":
        return "string"
    if h5py.check_enum_dtype(dtype) is not None:
        return "enum"
    if h5py.check_ref_dtype(dtype) is not None:
        return "object reference"
    return {"b": "bool", "c": "complex", "V": "opaque or array", "O": "variable-length"}.get(dtype.kind, str(dtype))


def _kind(value: object) -> str:
    if isinstance(value, (str, bytes)):
        return f"the text {short(value)}"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    return f"{type(value).__name__} {short(value)}" if isinstance(value, (int, float, bool)) else type(value).__name__
