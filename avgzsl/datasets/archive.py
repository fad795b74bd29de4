"""Fetch a repository archive once and keep the files a dataset needs in a cache folder, checked first.

Shared by the AudioSetZSL split lists and AVCA-GZSL's benchmark class lists: both are small text files
inside a pinned commit's tarball. The files appear in the cache only after the caller's check passed.
"""

from __future__ import annotations

import io
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path


def download(url: str, *, timeout_s: float, error: type[Exception], offline_hint: str) -> bytes:
    """The archive's bytes; a network failure becomes `error` with the URL and what to do offline."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.read()
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        raise error(f"could not fetch {url} ({err}). Offline? {offline_hint}") from err


def unpack_checked(payload: bytes, dest: Path, *, select: Callable[[str], str | None],
                   check: Callable[[Path], None]) -> Path:
    """Extract the members `select` maps to a relative path (None skips one) into a staging folder beside
    `dest`, run `check` on it (it raises on bad contents), then rename it to `dest` in one step."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    try:
        with tarfile.open(fileobj=io.BytesIO(payload), mode="r:*") as archive:
            for member in archive.getmembers():
                rel = select(member.name) if member.isfile() else None
                if rel is None or ".." in Path(rel).parts:
                    continue
                target = staging / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.extractfile(member).read())
        check(staging)
        staging.rename(dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return dest
