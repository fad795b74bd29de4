"""Run folders, shared by deep experiments and classical baselines.

A run folder `<runs>/<experiment>/seed<k>/` is written under a temporary name and renamed into place
whole (`publish_dir`), so a killed job never leaves a folder that mixes two runs. The per-experiment
`<runs>/<experiment>/summary.json` is computed from the seed folders' metrics.json alone, in the one summary
layout (avgzsl.evaluation.summary, which `avgzsl train` writes too).
Nothing here trains or imports the training code, so the summaries and the baselines do not depend on it.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from avgzsl.evaluation.summary import write_summary


@contextlib.contextmanager
def publish_dir(out: str | Path) -> Iterator[Path]:
    """Yield a fresh temporary folder beside `out`; on success it is renamed to `out` in one step.

    Leftovers of killed earlier attempts (`.<name>.*.tmp`) are removed first; on failure the
    temporary folder is removed, so `out` is either the complete new folder or absent.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{out.name}.*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = out.parent / f".{out.name}.{uuid.uuid4().hex[:12]}.tmp"
    tmp.mkdir()  # (not mkdtemp: its 0700 would stay on the published folder)
    try:
        yield tmp
        if out.exists():
            # the workflow removes a job's outputs before it runs; an empty folder it made may remain
            out.rmdir()
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def summarize_experiment(spec: dict, seed_dirs: list[str], *, out: str) -> dict:
    """Mean ± std over the seed folders' metrics.json, in the order of the experiment's seeds."""
    runs = []
    for folder in seed_dirs:
        path = Path(folder) / "metrics.json"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: the seed folder is not a finished run")
        runs.append(json.loads(path.read_text()))
    return write_summary(out, spec, runs)
