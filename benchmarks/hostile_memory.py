"""Peak memory of reading the worst hostile feature shards, beside a normal shard of about the same real size.

Each case is written to a temporary folder and read with `avgzsl.formats.shards.read_feature_shard` in a
fresh Python process (so its peak RSS is that one read's, plus the interpreter and imports), which reports
its own peak RSS (VmHWM in /proc/self/status, Linux) when done. The "imports only" case is the constant
every process pays (numpy, h5py, pandas via avgzsl's imports).

Cases:
  imports only                 the child imports the reader and reads nothing
  normal shard                 20,000 x 1024 float32 (78 MB), read and kept
  500,000 x 1024 declared      a 6 KB file declaring 1.9 GB (no storage allocated): refused
  10^9 x 1024 declared         a tiny file declaring 3.7 TB: refused
  external storage             /features stored in an 80 MB file outside the shard: refused
  virtual dataset              /features a view of an 80 MB shard elsewhere: refused
  missing chunks               200,000 x 1024 chunked, only the first chunk written: refused

Usage: python benchmarks/hostile_memory.py
(With PYTHONPATH pointing at an older checkout it measures that version's reader the same way.)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import numpy as np

from avgzsl.formats.shards import write_feature_shard

ROWS, DIM = 20_000, 1024
CHILD = """
import sys
from avgzsl.formats.shards import FeatureError, read_feature_shard
if sys.argv[1] != "-":
    try:
        shard = read_feature_shard(sys.argv[1])
        print(f"read {shard.features.shape}")
    except FeatureError as err:
        print(f"refused: {str(err)[len(sys.argv[1]) + 2:][:90]}")
    except (MemoryError, OSError, ValueError, KeyError) as err:  # what older readers raised: reported, not hidden
        print(f"failed: {type(err).__name__}: {str(err)[:80]}")
hwm = next(line for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(int(hwm.split()[1]))
"""


def _attrs(f: h5py.File, rows: int, dim: int = DIM) -> None:
    f.create_dataset("ids", data=np.array([f"c{i}" for i in range(rows)], dtype=object),
                     dtype=h5py.string_dtype())
    f.attrs.update({"format_version": 1, "modality": "audio", "dim": dim, "extractor": "x", "settings": "{}"})


def _declared(path: Path, rows: int) -> Path:
    with h5py.File(path, "w") as f:
        f.create_dataset("features", shape=(rows, DIM), dtype=np.float32)
        f.create_dataset("ids", shape=(rows,), dtype=h5py.string_dtype())
        f.attrs.update({"format_version": 1, "modality": "audio", "dim": DIM})
    return path


def _external(path: Path) -> Path:
    raw = path.parent / "outside.bin"
    np.random.default_rng(0).standard_normal((ROWS, DIM), dtype=np.float32).tofile(raw)
    with h5py.File(path, "w") as f:
        f.create_dataset("features", shape=(ROWS, DIM), dtype=np.float32, external=[(str(raw), 0, ROWS * DIM * 4)])
        _attrs(f, ROWS)
    return path


def _virtual(path: Path, normal: Path) -> Path:
    layout = h5py.VirtualLayout(shape=(ROWS, DIM), dtype=np.float32)
    layout[:] = h5py.VirtualSource(str(normal), "features", shape=(ROWS, DIM))
    with h5py.File(path, "w") as f:
        f.create_virtual_dataset("features", layout)
        _attrs(f, ROWS)
    return path


def _missing_chunks(path: Path, rows: int = 200_000) -> Path:
    with h5py.File(path, "w") as f:
        d = f.create_dataset("features", shape=(rows, DIM), dtype=np.float32, chunks=(1000, DIM))
        d[:1000] = 1.0
        _attrs(f, rows)
    return path


def _peak_rss(path: str) -> tuple[float, str]:
    """The child's peak RSS in MB and its line of output (empty for the imports-only case)."""
    done = subprocess.run([sys.executable, "-c", CHILD, path], capture_output=True, text=True, check=True)
    *lines, hwm_kb = done.stdout.strip().splitlines()
    return int(hwm_kb) / 1024, " ".join(lines)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        normal = write_feature_shard(tmp / "normal.h5", np.random.default_rng(1).standard_normal((ROWS, DIM)),
                                     [f"c{i}" for i in range(ROWS)], modality="audio", extractor="x")
        cases = [
            ("imports only", "-"),
            ("500,000 x 1024 declared", str(_declared(tmp / "huge.h5", 500_000))),
            ("10^9 x 1024 declared", str(_declared(tmp / "giga.h5", 10**9))),
            ("external storage", str(_external(tmp / "external.h5"))),
            ("virtual dataset", str(_virtual(tmp / "virtual.h5", normal))),
            ("missing chunks", str(_missing_chunks(tmp / "chunks.h5"))),
            ("normal shard", str(normal)),
        ]
        print(f"{'case':26s} {'file size':>10s} {'peak RSS':>10s}  result")
        for name, path in cases:
            size = Path(path).stat().st_size / 2**20 if path != "-" else 0.0
            rss, line = _peak_rss(path)
            print(f"{name:26s} {size:8.2f} MB {rss:7.0f} MB  {line}")


if __name__ == "__main__":
    main()
