"""Opening a `torch.save` file without running its code (the one loader every checkpoint reader goes through),
and writing one atomically.

A torch file is a pickle (inside a zip archive since torch 1.6), and unpickling calls whatever importable
callable the file names. `weights_only=True` lets torch rebuild only tensors and plain data; this module adds
the checks before it (a regular, non-empty file with a zip or pickle header, an intact zip directory) and turns
every failure into one error that names the file and says what was wrong with it. What the loaded object must
hold (a format marker, a version, a state dict) is each caller's own check on top.
"""

from __future__ import annotations

import io
import os
import pickle
import warnings
import zipfile
from pathlib import Path

import torch

from avgzsl.formats.atomic import atomic_output
from avgzsl.formats.input_files import check_regular_file


class TorchFileError(ValueError):
    """A file that cannot be loaded safely as a torch file; the message names the file."""


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0][:200] if text else "") or type(err).__name__


def _check_container(path: Path, what: str, error: type[ValueError]) -> None:
    """Refuse, before unpickling anything, what cannot be a torch file at all."""
    if not path.exists() and not path.is_symlink():
        raise FileNotFoundError(f"{path} does not exist (expected {what})")
    check_regular_file(path, what=what, error=error)  # no folder, FIFO, device, or link (to /etc/passwd, say)
    if path.stat().st_size == 0:
        raise error(f"{path}: the file is empty, not {what}")
    with path.open("rb") as fh:
        head = fh.read(2)
    if head != b"PK" and head[:1] != b"\x80":  # torch.save writes a zip archive; older torch a pickle
        raise error(f"{path}: not {what} (neither a torch zip archive nor a pickle)")
    if head == b"PK" and not zipfile.is_zipfile(path):
        raise error(f"{path}: not readable as {what} (truncated or corrupt zip archive)")


def load_torch_file(path: str | os.PathLike, *, what: str = "a torch file", map_location: str | torch.device = "cpu",
                    error: type[ValueError] = TorchFileError) -> object:
    """The object `torch.save` wrote to `path`, unpickled with `weights_only=True`: tensors and plain data only.

    `what` is the noun phrase the messages use ("a checkpoint", "an audio CNN checkpoint"); `error` the
    ValueError subclass raised (a caller's own error type, so its callers catch one kind). A missing file is a
    FileNotFoundError.
    """
    path = Path(path)
    _check_container(path, what, error)
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols of files it then refuses anyway
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights only" not in str(err).lower():  # a damaged pickle stream, not a refused global
            raise error(f"{path}: not readable as {what} (corrupt?): {_first_line(err)}") from err
        raise error(
            f"{path}: refused: the file holds Python objects other than tensors and plain data, so loading it "
            f"could run code (a file of another program, or of an older format that is no longer read, rather "
            f"than {what}); nothing in it was executed"
        ) from err
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, IndexError, zipfile.BadZipFile) as err:
        raise error(f"{path}: not readable as {what} (truncated or corrupt?): {_first_line(err)}") from err


def save_torch_file(obj: object, path: str | os.PathLike) -> Path:
    """`torch.save` to `path` atomically: readers see the old file or the whole new one, never a partial write
    (parallel jobs writing the same file each write their own temp file; the last rename wins)."""
    # serialized in memory, then written by Python: a full disk is an OSError (ENOSPC) that atomic_output names
    # the file in, where torch's writer reports a short write only as "unexpected pos ..." (checkpoints are
    # megabytes, so the copy in memory is cheap)
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_output(path) as tmp, open(tmp, "wb") as handle:
        handle.write(buffer.getbuffer())
    return Path(path)
