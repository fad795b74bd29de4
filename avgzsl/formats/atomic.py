"""Atomic file and folder output: a writer that dies half-way never leaves something that looks finished.

A folder written by `staged_folder` is locked while it is written (`output_lock`: an `flock` on
`.<name>.lock` beside it), so a second writer into the same folder fails at once instead of after all its
work; the lock also tells a staging folder left by a killed writer (nobody holds its lock) from one in use,
and the next writer removes such stale folders. Disk-full and other OS errors raised while writing name the
file or folder being written.

Temporary files and folders are created with the permissions an ordinary `open()` or `mkdir()` would give
(0666 / 0777 minus the umask), not `tempfile`'s private 0600 / 0700: they are renamed into place, so their
mode is the final file's, and results on a shared file system must stay readable to the user's group.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger("avgzsl.formats.atomic")
LOCK_INSIDE = ".avgzsl-output.lock"  # the lock of an output folder whose parent may not be written
_HELD: dict[Path, int] = {}  # lock files this process holds -> nesting depth (flock is per open file)


class OutputBusyError(OSError):
    """Another process is writing the same output folder now (the message names it; no errno, so it is shown
    as written)."""


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


def _named(err: OSError, path: Path) -> OSError:
    """`err` with `path` as its file name when it has none (a write or flush reports only the errno)."""
    if err.filename is None and err.errno is not None:
        return OSError(err.errno, os.strerror(err.errno), str(path))
    return err


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; it replaces `path` on success and is removed on failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _create_temp_file(path.parent, f".{path.name}.", ".tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as err:  # ENOSPC while writing: say which output it was
        named = _named(err, path)
        if named is err:
            raise
        raise named from err
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


def _lock_file(path: Path) -> Path:
    path = path.resolve()  # one lock whatever spelling (relative, through a link) names the folder
    return path.parent / f".{path.name}.lock"


def _remove_stale_stages(path: Path) -> None:
    """Staging folders of `path` left by a writer that was killed: its lock is ours now, so none is in use."""
    stale = list(path.parent.glob(f".{glob.escape(path.name)}.partial-*.tmp"))
    if path.is_dir():
        stale += [*path.glob(".partial-*.tmp"), *path.glob(".*.old-*.tmp")]
    for folder in stale:
        if folder.is_dir() and not folder.is_symlink():
            log.warning("removing %s, a staging folder left by an earlier run that did not finish", folder)
            shutil.rmtree(folder)


def _acquire(lock: Path, path: Path) -> int:
    """An fd holding `lock` exclusively; OutputBusyError naming `path` at once when another process holds it."""
    while True:
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputBusyError(f"{path}: another run is writing this folder now (it holds {lock}); "
                                  "wait for it to finish or choose another output folder") from None
        except BaseException:
            os.close(fd)
            raise
        try:  # the holder before us may have removed the file as it let go: lock the file that is there now
            if os.fstat(fd).st_ino == os.stat(lock).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


@contextlib.contextmanager
def output_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold the lock of the output folder `path` (re-entrant within a process) and remove its stale staging
    folders. Parent folders created for the lock are removed again when `path` was not written."""
    path = Path(path)
    if path.exists() and not path.is_dir():  # refused before the writer's work, not when it is done
        raise NotADirectoryError(f"{path} exists and is not a folder")
    lock, inside = _lock_file(path), path.resolve() / LOCK_INSIDE
    if inside in _HELD:
        lock = inside
    if lock in _HELD:
        _HELD[lock] += 1
        try:
            yield
        finally:
            _HELD[lock] -= 1
        return
    created = [p for p in reversed(path.absolute().parents) if not p.exists()]
    lock.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = _acquire(lock, path)
    except PermissionError:
        if not path.is_dir():
            raise
        # an existing folder in a parent we may not write to (staging happens inside it): lock inside it too
        lock = inside
        fd = _acquire(lock, path)
    _HELD[lock] = 1
    try:
        _remove_stale_stages(path)
        yield
    finally:
        del _HELD[lock]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock)  # while still held: a waiting writer re-checks the file (see _acquire)
        os.close(fd)
        if not path.exists():
            for parent in reversed(created):
                with contextlib.suppress(OSError):  # not empty any more: someone else uses it now
                    parent.rmdir()


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
    with output_lock(path):  # parents it creates are removed again if the writer fails
        fresh = not path.exists()
        stage = _create_temp_dir(path.parent, f".{path.name}.partial-") if fresh else _create_temp_dir(path, ".partial-")
        try:
            yield stage
            if fresh:
                os.rename(stage, path)
            else:
                _replace_entries(stage, path)
                stage.rmdir()
        except OSError as err:  # ENOSPC while writing: name the output as the user knows it, not the stage
            named = _named(err, path)
            if isinstance(named.filename, str) and named.filename.startswith(str(stage)):
                named = OSError(named.errno, named.strerror, str(path) + named.filename[len(str(stage)):])
            if named is err:
                raise
            raise named from err
        finally:
            if stage.exists():
                shutil.rmtree(stage)
