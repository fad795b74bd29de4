"""Per-clip time of `avgzsl predict` on 10-second clips, stage by stage, and how busy it keeps the cores.

Clips: `--clips` demo renderings (H.264 + AAC, like `make demo`'s, but 10 s and `--size` px square, so that
decoding costs what a 360p upload costs). Bundle: real networks, untrained (benchmarks/_predict_bundle.py).

Three measurements, each repeated (`--repeats`) and reported with its spread (benchmarks/_timing.py):

  * the stage split: `cmd_predict` itself, in this process, over the folder of clips, with the stage timers of
    avgzsl_extractors.stage_times on (the real calls, timed where they run: decode audio, log-mel, decode
    video in the decode workers; the audio CNN and I3D (with its crop and normalisation) around each batch;
    embedding = the AVGZSLNet embeddings and distances; ranking = sorting and writing the rows). Seconds per
    clip are each stage's seconds over the run divided by the clips; their sum is the work per clip, which
    is more than the wall-clock time per clip when the decoders run beside a network. The share of decode +
    log-mel in that sum is the issue's goal (<= 30 %).
  * the CPU use of that run: process CPU seconds / (wall seconds x cores), and the cores it asked for,
    (CPU + run-queue waiting seconds) / (wall x cores): on a shared machine the first measures what the other
    processes left over, the second what the run would have used alone (benchmarks/_core_demand.py).
  * the same for the command as a user runs it, `avgzsl predict <bundle> <folder>` in a child process,
    start-up included.

Usage: python benchmarks/predict_per_clip.py [--device cpu|cuda] [--clips 8] [--size 360] [--threads N]
       [--settings paper|demo] [--repeats 2] [--no-cli] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _core_demand import RunQueueWait  # noqa: E402
from _predict_bundle import make_bundle  # noqa: E402
from _timing import Spread, TimingReport, describe_device, resolve_device  # noqa: E402

STAGES = ("decode audio", "log-mel", "audio CNN", "decode video", "I3D", "embedding", "ranking")
DECODE_STAGES = ("decode audio", "log-mel", "decode video")
NETWORK_STAGES = ("audio CNN", "I3D", "embedding")
# a stage this small cannot move the share; its spread (milliseconds on a shared machine) is printed, not judged
JUDGED_SHARE = 5.0
CLI = "import sys; from avgzsl.cli import main; sys.exit(main(sys.argv[1:]))"


def make_clips(folder: Path, count: int, size: int) -> list[Path]:
    """`count` 10 s demo clips of different classes (kept when `folder` has them from an earlier run)."""
    from avgzsl.datasets.demo import DEMO_CLASSES, DemoConfig, render_clip

    cfg = DemoConfig(seconds=10.0, size=size)
    clips = []
    for i in range(count):
        path = folder / f"clip{i:03d}_{size}.mp4"
        if not path.exists():
            render_clip(DEMO_CLASSES[i % len(DEMO_CLASSES)], f"bench{i}", path, cfg)
        clips.append(path)
    return clips


def predict_args(bundle: Path, clips: Path, weights: Path, out: Path, device: str, threads: int) -> list[str]:
    from avgzsl.datasets.demo import DEMO_CLASSES

    return ["predict", str(bundle), str(clips), "--classes", ",".join(DEMO_CLASSES), "--device", device,
            "--threads", str(threads), "--i3d-weights", str(weights), "--out", str(out)]


def timed_predict(argv: list[str], sync) -> dict:
    """`cmd_predict` in this process with the stage timers on: stage seconds, wall and CPU seconds."""
    from avgzsl_extractors.stage_times import recording

    from avgzsl.cli import build_parser
    from avgzsl.inference.commands import cmd_predict

    args = build_parser().parse_args(argv)
    with recording() as times, RunQueueWait() as waited:
        wall, cpu = time.perf_counter(), time.process_time()
        if cmd_predict(args) != 0:
            raise SystemExit("predict failed")
        sync()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"stages": dict(times.seconds), "wall": wall, "cpu": cpu, "wait": waited.seconds}


def cli_predict(argv: list[str]) -> dict:
    """`avgzsl predict` in a child process: wall, the child's CPU seconds and its run-queue waiting."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", CLI, *argv], stdout=subprocess.DEVNULL)
    with RunQueueWait(child.pid) as waited:
        if child.wait() != 0:
            raise SystemExit(f"avgzsl predict failed (exit {child.returncode})")
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "wait": waited.seconds}


def report_core_use(report: TimingReport, runs: list[dict], what: str, cores: int) -> None:
    """CPU use as measured, and the cores asked for: CPU + run-queue waiting (benchmarks/_core_demand.py)."""
    report.add(Spread(f"CPU use {what}, CPU s / (wall s x {cores} cores)",
                      [100 * r["cpu"] / (r["wall"] * cores) for r in runs], unit="%"), ".1f")
    report.add(Spread(f"cores asked for {what}, (CPU s + run-queue wait s) / (wall s x {cores} cores)",
                      [100 * (r["cpu"] + r["wait"]) / (r["wall"] * cores) for r in runs], unit="%"), ".1f")


def report_split(report: TimingReport, runs: list[dict], n: int, cores: int) -> None:
    print(f"\nper clip, seconds (each stage's seconds over the run / {n} clips; median of {len(runs)} runs)")
    totals = [sum(r["stages"].get(s, 0.0) for s in STAGES) / n for r in runs]
    total = statistics.median(totals)
    for name in STAGES:
        spread = Spread(name, [r["stages"].get(name, 0.0) / n for r in runs])
        share = 100 * spread.median / max(total, 1e-12)
        if share >= JUDGED_SHARE:
            report.add(spread, ".3f", quiet=True)
        print(f"  {spread.line('.3f')}  [{share:.1f} % of the work"
              f"{'' if share >= JUDGED_SHARE else f'; not judged: under {JUDGED_SHARE} %'}]")
    report.add(Spread("total (work)", totals), ".3f")
    shares = [100 * sum(r["stages"].get(s, 0.0) for s in DECODE_STAGES) / n / t for r, t in zip(runs, totals)]
    report.add(Spread("decode + log-mel share of the work (goal <= 30 %)", shares, unit="%"), ".1f")
    report.add(Spread("wall per clip (whole predict call)", [r["wall"] / n for r in runs]), ".3f")
    report_core_use(report, runs, "in process", cores)
    setup = statistics.median(r["stages"].get("class vectors", 0.0) for r in runs)
    # the networks use every core; outside them only the decoders or one Python thread can run
    outside = [r["wall"] - sum(r["stages"].get(s, 0.0) for s in NETWORK_STAGES) for r in runs]
    print(f"  per run, not per clip: class vectors {setup:.2f} s; wall outside the networks (set-up, model "
          f"loading, waiting for decodes, files) {statistics.median(outside):.2f} s = "
          f"{100 * statistics.median(o / r['wall'] for o, r in zip(outside, runs)):.1f} % of the wall")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu (default) | cuda[:N]")
    parser.add_argument("--clips", type=int, default=8, help="10 s clips in the folder predict scores")
    parser.add_argument("--size", type=int, default=360, help="frame side of the rendered clips (even)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="predict's --threads (default: every core, as predict's own default up to 8)")
    parser.add_argument("--settings", choices=("paper", "demo"), default="paper",
                        help="extraction settings: the paper's (224 px, 64-frame windows) or the demo's (112 px)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each measurement")
    parser.add_argument("--no-cli", action="store_true", help="skip the child-process runs of avgzsl predict")
    parser.add_argument("--workdir", default=None, help="keep clips and bundle here (default: a temporary folder)")
    args = parser.parse_args(argv)
    report = TimingReport()
    device = resolve_device(args.device)
    cores = os.cpu_count() or 1
    import torch

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with tempfile.TemporaryDirectory(prefix="predict-bench-") as tmp:
        work = Path(args.workdir or tmp)
        clips_dir = work / "clips"
        clips_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        clips = make_clips(clips_dir, args.clips, args.size)
        print(f"{len(clips)} clips of 10 s, {args.size} px, ready in {time.perf_counter() - t0:.1f} s")
        bundle = work / f"bundle-{args.settings}"
        weights = work / f"parts-{args.settings}" / "i3d_kinetics400.pt"
        if not (bundle / "bundle.json").is_file():
            make_bundle(bundle, work / f"parts-{args.settings}", args.settings)
        argv = predict_args(bundle, clips_dir, weights, work / "labels.csv", str(device), args.threads)
        # one clip first: librosa's first call compiles (numba), a GPU autotunes
        timed_predict(predict_args(bundle, clips[0], weights, work / "warm.csv", str(device), args.threads), sync)
        print(f"device {describe_device(device)}; settings {args.settings}; predict --threads {args.threads}; "
              f"{cores} cores")
        runs = [timed_predict(argv, sync) for _ in range(args.repeats)]
        report_split(report, runs, len(clips), cores)
        if not args.no_cli:
            print("\navgzsl predict over the folder, in a child process (start-up included):")
            cli = [cli_predict(argv) for _ in range(args.repeats)]
            report.add(Spread("wall per clip, whole command", [r["wall"] / len(clips) for r in cli]), ".3f")
            report_core_use(report, cli, "of the command", cores)
    report.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
