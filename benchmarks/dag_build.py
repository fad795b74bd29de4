"""DAG build time over the full AudioSetZSL manifest (156,416 clips), as a dry run.

Prints the seconds `snakemake -n` takes to parse the config, build the manifest from the split lists,
and build the DAG (goal: under 15 s and 2,000 jobs), the CPU seconds it used (a steadier number on a
shared machine), and the job count per rule. The experiments and seeds are config/config.yaml's (every
(experiment, seed) is a job).

The dry run is repeated (`--repeats`, default 3) and reported with its spread (benchmarks/_timing.py);
a wide spread is flagged as untrustworthy. `--device` goes into the run's config (`device:`), so the DAG
is the one a GPU run would build (the GPU resource of the extraction and training jobs).

Usage: python benchmarks/dag_build.py [--split-lists <a local copy of the split lists>] [--shard-size 500]
       [--repeats 3] [--device auto|cpu|cuda]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "tests"), str(Path(__file__).resolve().parent)]
from _timing import Spread, TimingReport, steady  # noqa: E402
from workflow_helpers import REPO, copy_repo, job_counts, snakemake  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split-lists", default=str(REPO.parent / "shared" / "datasets" / "audiosetzsl"))
    parser.add_argument("--shard-size", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto", help="the config's device: (a dry run needs no GPU)")
    args = parser.parse_args()
    report = TimingReport()
    outputs: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        repo = copy_repo(Path(tmp) / "repo")
        cfg = Path(tmp) / "asz.yaml"
        paper = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
        cfg.write_text(yaml.safe_dump({"dataset": "audiosetzsl", "shard_size": args.shard_size, "device": args.device,
                                       "audiosetzsl": {"split_lists": args.split_lists},
                                       # offline vectors: the GoogleNews file is not needed to plan the DAG
                                       "extract": {"text": {"source": "glove-6b-50d"}},
                                       "experiments": paper["experiments"], "training": paper["training"]}))
        cpu_seconds: list[float] = []

        def dry_runs() -> list[float]:
            times = []
            for _ in range(args.repeats):
                t0, cpu0 = time.perf_counter(), _children_cpu()
                outputs.append(snakemake(repo, "--configfile", str(cfg), "-n", "--quiet", "rules").stdout)
                times.append(time.perf_counter() - t0)
                cpu_seconds.append(_children_cpu() - cpu0)
            return times

        print(f"dry run over AudioSetZSL (shard size {args.shard_size}, device {args.device}):")
        report.add(steady(dry_runs, "dry run seconds (goal < 15 s)"), ".1f")
        report.add(Spread("dry run CPU seconds (steadier on a shared machine)", cpu_seconds[-args.repeats:]), ".1f")
    counts = job_counts(outputs[-1])
    print(f"{sum(counts.values())} jobs (goal < 2,000)")
    for rule, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"  {rule:<22} {n}")
    report.finish()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
