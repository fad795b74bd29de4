"""After keep_freed_memory(), freed training-sized blocks stay in malloc's heap instead of going back to the kernel."""

import ctypes
import sys

import pytest
import torch

from avgzsl.runtime.cpu_memory import keep_freed_memory


class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def glibc_mallinfo2():
    libc = ctypes.CDLL(None) if sys.platform.startswith("linux") else None
    if libc is None or not hasattr(libc, "mallinfo2"):
        pytest.skip("needs glibc >= 2.33 (mallinfo2)")
    libc.mallinfo2.restype = MallInfo2
    return libc.mallinfo2


def test_freed_blocks_stay_in_the_heap():
    mallinfo2 = glibc_mallinfo2()
    assert keep_freed_memory() is None
    mapped_before = mallinfo2().hblkhd
    blocks = [torch.empty(5 << 20).fill_(1.0) for _ in range(5)]  # 5 x 20 MB, like a step's activations
    assert mallinfo2().hblkhd - mapped_before < 10 << 20  # served from the heap, not by mmap
    del blocks
    # glibc's defaults would hand these 100 MB back (munmap, or trimming the heap top); now they stay for reuse
    assert mallinfo2().fordblks >= 95 << 20
