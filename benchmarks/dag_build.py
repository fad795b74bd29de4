"""DAG build time over the full AudioSetZSL manifest (156,416 clips), as a dry run.

Prints the seconds `snakemake -n` takes to parse the config, build the manifest from the split lists,
and build the DAG (goal: under 15 s and 2,000 jobs), the CPU seconds it used (a steadier number on a
shared machine), and the job count per rule. The experiments and seeds are config/config.yaml's (every
(experiment, seed) is a job).

Usage: python benchmarks/dag_build.py [--split-lists <a local copy of the split lists>] [--shard-size 500]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from workflow_helpers import REPO, copy_repo, job_counts, snakemake  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split-lists", default=str(REPO.parent / "shared" / "datasets" / "audiosetzsl"))
    parser.add_argument("--shard-size", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo = copy_repo(Path(tmp) / "repo")
        cfg = Path(tmp) / "asz.yaml"
        paper = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
        cfg.write_text(yaml.safe_dump({"dataset": "audiosetzsl", "shard_size": args.shard_size,
                                       "audiosetzsl": {"split_lists": args.split_lists},
                                       # offline vectors: the GoogleNews file is not needed to plan the DAG
                                       "extract": {"text": {"source": "glove-6b-50d"}},
                                       "experiments": paper["experiments"], "training": paper["training"]}))
        t0, cpu0 = time.perf_counter(), _children_cpu()
        out = snakemake(repo, "--configfile", str(cfg), "-n", "--quiet", "rules").stdout
        seconds, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    counts = job_counts(out)
    print(f"dry run over AudioSetZSL (shard size {args.shard_size}): {seconds:.1f} s (goal < 15 s), "
          f"{cpu:.1f} CPU s, {sum(counts.values())} jobs (goal < 2,000)")
    for rule, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"  {rule:<22} {n}")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
