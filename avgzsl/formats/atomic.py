"""Atomic file and folder output: a writer that dies half-way never leaves something that looks finished.

Temporary files and folders are created with the permissions an ordinary `open()` or `mkdir()` would give
(0666 / 0777 minus the umask), not `tempfile`'s private 0600 / 0700: they are renamed into place, so their
mode is the final file's, and results on a shared file system must stay readable to the user's group.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path


def _fresh_name(parent: Path, prefix: str, suffix: str) -> Path:
    return parent / f"{prefix}{secrets.token_hex(6)}{suffix}"


def _create_temp_file(parent: Path, prefix: str, suffix: str) -> Path:
    while True:
        candidate = _fresh_name(parent, prefix, suffix)
        try:  # mode 0o666: the kernel applies the umask, as for any new file
            fd = os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return candidate


def _create_temp_dir(parent: Path, prefix: str) -> Path:
    while True:
        candidate = _fresh_name(parent, prefix, ".tmp")
        try:
            os.mkdir(candidate, 0o777)  # the umask applies, as for any new folder
        except FileExistsError:
            continue
        return candidate


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; it replaces `path` on success and is removed on failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temp_file(path.parent, f".{path.name}.", ".tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _replace_entries(src: Path, dest: Path) -> None:
    """Move every entry of `src` into `dest`, each replacing an entry of the same name whole."""
    for entry in sorted(src.iterdir()):
        target = dest / entry.name
        if target.is_dir() and not target.is_symlink():
            old = _fresh_name(dest, f".{entry.name}.old-", ".tmp")
            os.rename(target, old)  # out of the way first: rename cannot replace a non-empty folder
            os.rename(entry, target)
            shutil.rmtree(old)
        else:
            os.replace(entry, target)


@contextlib.contextmanager
def staged_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging folder; on success its contents appear in `path`, on failure nothing does.

    A `path` that does not exist yet appears in one rename. Into an existing folder each top-level staged
    entry is renamed into place, replacing a file or folder of the same name whole (other entries stay);
    the writer has finished and checked everything by then, so only a crash between those renames could
    leave part of the output.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path} exists and is not a folder")
    fresh = not path.exists()
    created = [p for p in reversed(path.parents) if not p.exists()]  # removed again if the writer fails
    if fresh:
        path.parent.mkdir(parents=True, exist_ok=True)
        stage = _create_temp_dir(path.parent, f".{path.name}.partial-")
    else:
        stage = _create_temp_dir(path, ".partial-")
    done = False
    try:
        yield stage
        if fresh:
            os.rename(stage, path)
        else:
            _replace_entries(stage, path)
            stage.rmdir()
        done = True
    finally:
        if stage.exists():
            shutil.rmtree(stage)
        if not done:
            for parent in reversed(created):
                with contextlib.suppress(OSError):  # not empty any more: someone else uses it now
                    parent.rmdir()
