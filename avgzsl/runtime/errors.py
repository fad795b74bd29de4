"""One `error: ...` line for any failure of a command or a workflow script, never a traceback.

The command line (`avgzsl`) and every workflow script end a failure the same way: one line naming the file or
option and what is wrong, exit status 1. Our own errors (ValueError, OSError and their subclasses raised with a
message) already name the file; what the environment raises (disk full, permission denied, out of memory) and
what a library raises unexpectedly is turned into such a line here, with the activity the command was busy with
(`while_doing`) so the line still says which input it was about.

`AVGZSL_DEBUG=1` in the environment prints the traceback above the line, for reporting a bug.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

DEBUG_ENV = "AVGZSL_DEBUG"
_CONTEXT = "_avgzsl_while"  # attribute set on an exception by `while_doing`
_MAX_LINE = 2000  # a message longer than this is cut: one line stays readable


@contextlib.contextmanager
def while_doing(what: str) -> Iterator[None]:
    """Record on any exception leaving the block what the program was doing (`reading the --audio shards a.h5`);
    the innermost record wins, and it is shown only for errors whose own message may not name the input."""
    try:
        yield
    except Exception as err:
        if not hasattr(err, _CONTEXT):
            setattr(err, _CONTEXT, what)
        raise


def _oserror_message(err: OSError) -> str:
    """An OSError with a file name, said in words, the file first; one without a name as given."""
    name = err.filename
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" writing {name}" if name else ""
        return f"no space left on device{where}" + ("" if err.errno == errno.ENOSPC else " (disk quota exceeded)")
    if name is None:
        return str(err)
    what = {
        errno.EACCES: "permission denied", errno.EPERM: "operation not permitted",
        errno.ENOENT: "no such file or folder", errno.EISDIR: "a folder, not a file",
        errno.ENOTDIR: "a part of the path is not a folder", errno.EROFS: "read-only file system",
        errno.EEXIST: "already exists",
    }.get(err.errno, err.strerror or str(err))
    second = f" -> {err.filename2}" if err.filename2 else ""
    return f"{name}{second}: {what}"


def error_message(err: BaseException) -> str:
    """The one line (without the `error: ` prefix) that reports `err`."""
    context = getattr(err, _CONTEXT, None)
    if isinstance(err, MemoryError):
        detail = str(err) or "the allocation failed"
        text = f"out of memory{f' while {context}' if context else ''}: {detail}"
    elif isinstance(err, OSError) and err.errno is not None:
        text = _oserror_message(err)
        if context and not err.filename:
            text += f" (while {context})"
    elif isinstance(err, (ValueError, OSError)):  # ours: the message names the file or option already
        text = str(err) or type(err).__name__
    else:  # raised by a library where we did not expect it: say what, and where we were
        first = str(err).strip().splitlines()
        text = f"{type(err).__name__}: {first[0] if first else 'no message'}"
        if context:
            text = f"while {context}: {text}"
    # a message listing several problems on several lines stays one line: its lines joined
    text = " | ".join(part.strip() for part in text.splitlines() if part.strip()) or type(err).__name__
    return text if len(text) <= _MAX_LINE else text[:_MAX_LINE] + " ..."


def report_error(err: BaseException, stream: TextIO | None = None, prefix: str = "error: ") -> None:
    """Print `err` as one line on `stream` (standard error by default); with AVGZSL_DEBUG set, its traceback
    first, so the last line is still the error line."""
    stream = stream if stream is not None else sys.stderr
    if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
        traceback.print_exception(err, file=stream)
    print(f"{prefix}{error_message(err)}", file=stream)


def input_file_problem(path: str | os.PathLike, *, folder: bool | None = False) -> str:
    """Why `path` cannot be read as an input file (or folder, with `folder=True`; either, with None); '' when
    it can.

    Checked before opening: a FIFO or device would block or never end, and a folder given for a file would
    otherwise be reported as "not found" or as a corrupt file.
    """
    try:
        mode = Path(path).stat().st_mode
    except FileNotFoundError:
        return "no such file or folder"
    except NotADirectoryError:
        return "a part of the path is not a folder"
    except PermissionError:
        return "permission denied"
    except OSError as err:
        return err.strerror or str(err)
    if folder or (folder is None and stat.S_ISDIR(mode)):
        return "" if stat.S_ISDIR(mode) else "not a folder"
    if stat.S_ISDIR(mode):
        return "a folder, not a file"
    if not stat.S_ISREG(mode):
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
        return f"{kind}, not a regular file"
    if not os.access(path, os.R_OK):
        return "permission denied (not readable)"
    return ""
