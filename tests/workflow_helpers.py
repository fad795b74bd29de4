"""Running the real Snakemake workflow from tests, in a throw-away copy of the repository."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).parent / "snakemake")
SHARED = REPO.parent / "shared"
IGNORED = shutil.ignore_patterns(".venv", ".git", "results", "resources", ".snakemake", "__pycache__",
                                 ".pytest_cache", "*.egg-info", "benchmarks")


def copy_repo(dst: Path) -> Path:
    """The workflow reads its code from the copy (PYTHONPATH points there), so edits stay in the copy."""
    shutil.copytree(REPO, dst, ignore=IGNORED)
    return dst


def snakemake(workdir: Path, *args: str, timeout: float = 900, env: dict | None = None,
              check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [SNAKEMAKE, "--cores", "2", *args], cwd=workdir, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-6000:]}")
    return proc


def job_counts(output: str) -> dict[str, int]:
    """Parse the 'Job stats' table a (dry) run prints."""
    counts: dict[str, int] = {}
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("Job stats"):
            for row in lines[i + 3:]:
                match = re.match(r"^\s*(\S+)\s+(\d+)\s*$", row)
                if not match:
                    break
                if match.group(1) != "total":
                    counts[match.group(1)] = int(match.group(2))
            break
    return counts
