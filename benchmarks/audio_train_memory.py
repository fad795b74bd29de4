"""Audio-CNN training memory and speed at AudioSetZSL scale: log-mels streamed from disk vs held in memory.

Writes a synthetic float16 log-mel cache of the real size (79,795 seen-class train clips x 64 mels x
1001 frames = 10.2 GB) with the cache writer the workflow uses, then runs, each in its own process
so that peak RSS belongs to one loader only:

  * streamed: `LogMelStore` over the whole cache (what `train_audio_cnn_step` does);
  * in-memory: the clips as one float16 array in memory, measured at `--memory-fraction` of the
    clips (the full array would need 10.2 GB on top of the model); its peak RSS is extrapolated by
    adding the bytes of the clips left out. (Before the cache, the workflow step also made float32
    copies of every clip, 2x more: ~30 GB at this scale.)

Each prints peak RSS, seconds per batch of the loader alone (read + crop) and of full training
steps (the default AudioCNN, Adam, batch 32, 496-frame crops), with spreads over repeats, and
the epoch time extrapolated from the seconds per step (a full epoch is 2,494 steps). The page
cache of the cache file is dropped first (posix_fadvise), so the streamed loader starts cold.

Usage: python benchmarks/audio_train_memory.py [--clips 79795] [--batches 4] [--repeats 3]
       [--memory-fraction 0.05] [--device auto] [--workdir DIR] [--keep-cache]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]
from _timing import (  # noqa: E402
    DEFAULT_MAX_RANGE,
    Spread,
    TimingReport,
    describe_device,
    device_sync,
    machine_load,
    resolve_device,
    steady,
)

N_CLIPS, N_MELS, N_FRAMES, N_SEEN = 79_795, 64, 1001, 23
GOAL_RSS_GB, GOAL_SLOWDOWN = 3.0, 0.10
LOADER_BATCHES = 50  # batches per timed block of the loader alone


def rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # ru_maxrss is in KiB on Linux


def write_synthetic_cache(path: Path, n: int) -> float:
    """Log-mel-like float16 noise (dB around -40) through the workflow's cache writer; returns seconds."""
    from avgzsl_extractors.logmel_cache import CacheWriter

    rng = np.random.default_rng(0)
    block = rng.normal(-40.0, 12.0, size=(64, N_MELS, N_FRAMES)).astype(np.float16)  # reused with a shift
    t0 = time.perf_counter()
    with CacheWriter(path, n, N_MELS, N_FRAMES) as writer:
        for i in range(n):
            writer.append(block[i % len(block)] + np.float16(i % 7))
    return time.perf_counter() - t0


def drop_page_cache(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def measure(args: argparse.Namespace) -> dict:
    """One loader's numbers, in this process (called by the parent with --mode)."""
    import torch
    from avgzsl_extractors.audio_cnn import create_audio_cnn
    from avgzsl_extractors.audio_train import AudioTrainConfig
    from avgzsl_extractors.logmel_batches import InMemorySpectrograms, clip_batches
    from avgzsl_extractors.logmel_cache import LogMelStore, npy_layout
    from torch import nn

    from avgzsl.runtime.seeding import seed_everything

    device = resolve_device(args.device)
    sync = device_sync(device)
    cfg = AudioTrainConfig()
    seed_everything(0, python=False, numpy=False)  # as the trainer seeds: torch's initialisation only
    model = create_audio_cnn(n_classes=N_SEEN, config=cfg.model).to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    path = Path(args.cache)
    drop_page_cache(path)
    if args.mode == "streamed":
        n = args.clips
        source = LogMelStore([(path, range(n))])
    else:
        n = max(cfg.batch_size * (args.batches + 1), int(round(args.clips * args.memory_fraction)))
        offset = npy_layout(path)[0]
        data = np.fromfile(path, dtype=np.float16, count=n * N_MELS * N_FRAMES, offset=offset)
        source = InMemorySpectrograms(data.reshape(n, N_MELS, N_FRAMES))
    labels = torch.from_numpy(np.random.default_rng(1).integers(0, N_SEEN, n))
    rng = np.random.default_rng(2)
    # the loader alone takes milliseconds a batch: a block of a few batches is too short to time steadily
    loader_batches = max(args.batches, LOADER_BATCHES)

    def block_order(batches: int = args.batches) -> np.ndarray:
        return rng.permutation(n)[: batches * cfg.batch_size]

    def loader_only() -> list[float]:
        out = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            for x in clip_batches(source, block_order(loader_batches), cfg.batch_size, cfg.frames, rng):
                x.to(device, non_blocking=True)
            sync()
            out.append((time.perf_counter() - t0) / loader_batches)
        return out

    def training() -> list[float]:
        out = []
        for _ in range(args.repeats):
            order = block_order()
            t0 = time.perf_counter()
            for b, x in enumerate(clip_batches(source, order, cfg.batch_size, cfg.frames, rng)):
                target = labels[order[b * cfg.batch_size : (b + 1) * cfg.batch_size]].to(device)
                loss = nn.functional.cross_entropy(model(x.to(device)), target)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            sync()
            out.append((time.perf_counter() - t0) / args.batches)
        return out

    cold = loader_only()[0]  # first pass after dropping the page cache: reads come from the disk
    # streamed reads hit the disk or the page cache by chance (random clips of a 9.5 GiB file), so that loader's
    # time varies from block to block by itself; a wider range there says nothing about other processes
    loader = steady(loader_only, f"{args.mode} loader (read + crop), s/batch",
                    max_range=0.5 if args.mode == "streamed" else DEFAULT_MAX_RANGE)
    for x in clip_batches(source, block_order()[: cfg.batch_size], cfg.batch_size, cfg.frames, rng):  # warm-up
        nn.functional.cross_entropy(model(x.to(device)), labels[: len(x)].to(device)).backward()
    step = steady(training, f"{args.mode} training step, s/batch", retries=args.retries)
    return {"mode": args.mode, "clips": n, "peak_rss_gb": rss_gb(), "cold_loader_s": cold,
            "loader": loader.values, "loader_attempts": loader.attempts, "step": step.values, "step_attempts": step.attempts,
            "data_gb": n * N_MELS * N_FRAMES * 2 / 2**30, "device": describe_device(device)}


def run_child(args: argparse.Namespace, mode: str) -> dict:
    cmd = [sys.executable, __file__, "--mode", mode, "--cache", str(args.cache), "--clips", str(args.clips),
           "--batches", str(args.batches), "--repeats", str(args.repeats), "--retries", str(args.retries),
           "--memory-fraction", str(args.memory_fraction), "--device", args.device]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{done.stdout}\n{done.stderr}")
    for line in done.stdout.splitlines():
        if line.startswith("  ("):  # retry notes from the child
            print(line)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=N_CLIPS)
    parser.add_argument("--batches", type=int, default=4, help="training steps per timed block")
    parser.add_argument("--repeats", type=int, default=3, help="timed blocks per loader")
    parser.add_argument("--retries", type=int, default=1, help="re-measure a block set whose spread is too wide")
    parser.add_argument("--memory-fraction", type=float, default=0.05, help="share of clips the in-memory run holds")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workdir", default=None, help="where the 10 GB cache goes (default: a temporary folder)")
    parser.add_argument("--keep-cache", action="store_true", help="reuse / keep the cache in --workdir")
    parser.add_argument("--mode", choices=("streamed", "memory"), help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(measure(args)))
        return

    report = TimingReport()
    with tempfile.TemporaryDirectory(dir=args.workdir, prefix="audio-train-memory-") as tmp:
        cache = Path(args.workdir if args.keep_cache and args.workdir else tmp) / f"logmel_{args.clips}.npy"
        args.cache = cache
        expected = args.clips * N_MELS * N_FRAMES * 2
        print(f"{machine_load()}; cache {cache} ({expected / 2**30:.1f} GiB)")
        if not (cache.is_file() and cache.stat().st_size >= expected):
            print(f"writing {args.clips} synthetic clips with the cache writer: "
                  f"{write_synthetic_cache(cache, args.clips):.0f} s")
        results = {mode: run_child(args, mode) for mode in ("streamed", "memory")}
        if not args.keep_cache:
            cache.unlink()

    print(f"\ndevice: {results['streamed']['device']}; {args.batches} steps per block, batch 32, crops of 496 frames")
    steps_per_epoch = int(np.ceil(args.clips / 32))
    medians = {}
    for mode, r in results.items():
        print(f"{mode}: {r['clips']} clips in the loader ({r['data_gb']:.2f} GiB of log-mels)")
        report.add(Spread(f"{mode} loader (read + crop), s/batch", r["loader"], attempts=r["loader_attempts"]), ".4f")
        step = report.add(Spread(f"{mode} training step, s/batch", r["step"], attempts=r["step_attempts"]))
        medians[mode] = step.median
        print(f"  cold first block of the loader: {r['cold_loader_s']:.4f} s/batch")
        print(f"  epoch of {steps_per_epoch} steps (extrapolated): {step.median * steps_per_epoch / 60:.1f} min")
    streamed_rss = results["streamed"]["peak_rss_gb"]
    mem = results["memory"]
    full_gb = args.clips * N_MELS * N_FRAMES * 2 / 2**30
    mem_rss = mem["peak_rss_gb"] + full_gb - mem["data_gb"]
    print(f"\npeak RSS streamed:  {streamed_rss:.2f} GiB for all {args.clips} clips (goal <= {GOAL_RSS_GB:.0f} GB)")
    print(f"peak RSS in-memory: {mem['peak_rss_gb']:.2f} GiB measured with {mem['clips']} clips; "
          f"extrapolated to {args.clips} clips: {mem_rss:.2f} GiB")
    slowdown = medians["streamed"] / medians["memory"] - 1
    print(f"step time streamed / in-memory: {1 + slowdown:.3f} ({100 * slowdown:+.1f} %; goal within "
          f"{100 * GOAL_SLOWDOWN:.0f} %; the two runs are in separate processes, so machine drift enters)")
    report.finish()


if __name__ == "__main__":
    main()
