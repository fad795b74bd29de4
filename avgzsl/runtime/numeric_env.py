"""The numeric environment a result was computed in: what can change its last bits from one machine to another.

Two runs of the same code and inputs give the same bytes only when these agree; when they don't, the README's
"Numbers between machines" says how far the tables may move. Every trained run carries this record in its
`run_info` (scores.npz, and so metrics.json); the audio CNN's metadata carries it too, because its training is
where small differences grow.
"""

from __future__ import annotations

import os
import platform
import sys

# CPU features that decide which SIMD kernels numpy, the BLAS, torch and oneDNN pick
_SIMD_PREFIXES = ("sse", "ssse", "avx", "fma", "f16c", "amx", "asimd", "sve", "neon")
# settings that override those choices or the thread counts
_ENV_KEYS = (
    "OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "MKL_ENABLE_INSTRUCTIONS",
    "MKL_CBWR", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "NPY_DISABLE_CPU_FEATURES", "CUBLAS_WORKSPACE_CONFIG",
)


def cpu_description(cpuinfo: str | None = None) -> dict:
    """The CPU's model name and its SIMD flags, from /proc/cpuinfo (Linux) or `platform` elsewhere."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                cpuinfo = f.read(1 << 20)
        except OSError:
            cpuinfo = ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    flags = fields.get("flags") or fields.get("Features") or ""
    return {
        "machine": platform.machine(),
        "model": fields.get("model name") or fields.get("CPU part") or platform.processor(),
        "simd_flags": sorted(f for f in set(flags.split()) if f.startswith(_SIMD_PREFIXES)),
        "logical_cores": os.cpu_count(),
    }


def math_libraries() -> list[dict]:
    """BLAS and OpenMP libraries loaded in this process: library, version, kernel set (OpenBLAS's core type), threads."""
    from threadpoolctl import threadpool_info

    keep = ("user_api", "internal_api", "version", "architecture", "threading_layer", "num_threads")
    return [{k: lib.get(k) for k in keep if k in lib} for lib in threadpool_info()]


def numeric_environment() -> dict:
    """One JSON-ready record of what the numbers depend on beyond code, config and inputs."""
    import numpy as np
    import torch

    return {
        "cpu": cpu_description(),
        "python": sys.version.split()[0],
        "numpy": str(np.__version__),
        "torch": str(torch.__version__),  # a str subclass that weights-only loading refuses
        "torch_cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
        "torch_threads": torch.get_num_threads(),
        "torch_mkl": torch.backends.mkl.is_available(),
        "cuda": str(torch.version.cuda) if torch.cuda.is_available() else None,
        "gpu": str(torch.cuda.get_device_name(0)) if torch.cuda.is_available() else None,
        "math_libraries": math_libraries(),
        "settings": {k: os.environ[k] for k in _ENV_KEYS if k in os.environ},
    }
