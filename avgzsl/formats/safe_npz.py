"""Reading `.npz` archives (saved scores) from other people as data only.

`np.load(..., allow_pickle=False)` already refuses object arrays, so no code can run; what is left is to
refuse what is not a regular file, to look at every member's declared shape and dtype before reading it (a
small archive can declare an array of any size), and to turn a truncated or damaged archive into one error
that names the file. The members' meaning is each caller's own check on top.
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from avgzsl.formats.input_files import byte_size, check_regular_file, first_line, physical_memory

_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError, TypeError)


def npz_headers(path: Path, error: type[ValueError]) -> dict[str, tuple[tuple[int, ...], np.dtype, int]]:
    """name -> (shape, dtype, member size) of every `.npy` member, read from the members' headers only."""
    out = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    raise error(f"{path}: holds {info.filename!r}, which is not a numpy array")
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                        np.lib.format.read_array_header_2_0
                    shape, _, dtype = read_header(member)
                out[info.filename[:-len(".npy")]] = (shape, dtype, info.file_size)
    except _DAMAGED as err:
        raise error(f"{path}: not a readable .npz archive (truncated or damaged?): {first_line(err)}") from err
    return out


def read_npz(path: str | os.PathLike, *, what: str, error: type[ValueError]) -> dict[str, np.ndarray]:
    """Every array of the archive at `path`: a regular file, no object arrays, each array no larger than its
    member of the archive says (so memory stays bounded by the archive's real content) nor than memory."""
    path = Path(path)
    check_regular_file(path, what=what, error=error)
    headers = npz_headers(path, error)
    total = 0
    for name, (shape, dtype, stored) in headers.items():
        if dtype.hasobject:
            raise error(f"{path}: array {name!r} holds Python objects, which are not read (no pickles)")
        need = math.prod(shape) * dtype.itemsize
        if need > stored:
            raise error(f"{path}: array {name!r} declares shape {shape} ({byte_size(need)}) but its member of "
                        f"the archive holds {byte_size(stored)} (truncated or crafted?)")
        total += need
    if total > physical_memory():
        raise error(f"{path}: its arrays declare {byte_size(total)}, more than this machine's memory")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except _DAMAGED as err:
        raise error(f"{path}: not a readable .npz archive (truncated or damaged?): {first_line(err)}") from err
