"""Checks every reader of other people's files shares: a regular file, a short escaped excerpt for messages,
a memory bound for declared sizes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_NOT_REGULAR = (
    (stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
)


def short(value: object, limit: int = 40) -> str:
    """A file's value as it may appear in a message: escaped (repr) and at most about `limit` characters."""
    text = value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else str(value)
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


def first_line(err: BaseException) -> str:
    """The first line of an exception's message, for a one-line error (library messages can span pages)."""
    lines = str(err).strip().splitlines()
    return (lines[0][:200] if lines else "") or type(err).__name__


def byte_size(n: float) -> str:
    """A byte count as people read it (3.7 GB)."""
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def physical_memory() -> int:
    """This machine's memory in bytes (no declared array larger than it can be read)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not a POSIX system: fall back to a fixed bound
        return 64 << 30


def check_regular_file(path: Path, *, what: str, error: type[ValueError], within: Path | None = None) -> int:
    """Refuse anything but a regular file (not followed through a link of its own); returns its size."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: not found (expected {what})") from None
    if stat.S_ISLNK(info.st_mode):
        raise error(f"{path}: a symbolic link (to {short(os.readlink(path), 80)}), not {what}; "
                    "give the file itself")
    for test, noun in _NOT_REGULAR:
        if test(info.st_mode):
            raise error(f"{path}: {noun}, not {what}")
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{path}: not a regular file, so not {what}")
    if within is not None and not path.resolve().is_relative_to(within.resolve()):
        raise error(f"{path}: resolves to {path.resolve()}, outside {within}")
    return info.st_size
