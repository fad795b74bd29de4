"""Keep freed heap memory in the process while training on CPU.

glibc's malloc hands large freed blocks back to the kernel (blocks over the mmap threshold, and heap tops
over the trim threshold). A training step frees and re-allocates the same (2B, hidden) activations every
step, so each step page-faults ~24 MB in anew (benchmarks/README.md has the measured cost). Raising both
thresholds makes malloc reuse those blocks, as an allocator such as jemalloc would. It is process-wide, and
the cost is that the process keeps up to 1 GB of freed memory instead of returning it, so only code that owns
its process calls it: the workflow's training script and `avgzsl train`, never the library's training loop.
"""

from __future__ import annotations

import ctypes
import functools
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, from glibc's malloc.h
MMAP_THRESHOLD_MAX = 32 << 20  # glibc's upper limit on 64-bit systems
TRIM_THRESHOLD = 1 << 30


@functools.cache  # the setting is process-wide: once per process is enough
def keep_freed_memory() -> str | None:
    """Raise glibc's malloc thresholds; returns None when done, or why it was not (not Linux/glibc)."""
    if not sys.platform.startswith("linux"):
        return f"not on Linux ({sys.platform})"
    libc = ctypes.CDLL(None)  # the C library this process already runs on
    if not hasattr(libc, "mallopt"):
        return "the C library has no mallopt (not glibc)"
    if not (libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX) and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)):
        return "the C library refused mallopt"
    return None
