"""Training, loading and evaluation speed at full AudioSetZSL scale, on synthetic features.

Prints
  * seconds per epoch with the `official` preset (93,865 train clips, batch 4096),
  * the model's FLOPs per epoch (forward + backward, counted by torch's FlopCounterMode),
  * the floor: the time of the epoch's matrix products alone (every product of one training step is
    recorded with its shapes and layouts, then timed in isolation), and the ratio epoch / floor (goal: <= 1.3),
  * seconds to load full-scale feature shards from disk into training tensors (goal: < 10 s),
  * seconds to evaluate 31,280 test clips x 33 classes: all modalities, classification and retrieval (goal: < 5 s).

Every number comes with its spread over repeats (benchmarks/_timing.py); a spread wider than the limit
is measured again once and then flagged with a WARNING and an UNTRUSTED verdict at the end.

Usage: python benchmarks/train_throughput.py [--epochs 5] [--repeats 3] [--threads N] [--skip-load | --load-only]
       [--device auto|cpu|cuda] [--precision float32|bfloat16]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

from avgzsl.evaluation.saved_scores import evaluate_scores
from avgzsl.evaluation.scoring import model_scores
from avgzsl.formats.feature_split import FeatureSplit, load_split
from avgzsl.formats.manifest import ClassTable
from avgzsl.formats.shards import write_feature_shard
from avgzsl.models.registry import create_model
from avgzsl.runtime.cpu_memory import keep_freed_memory
from avgzsl.settings.experiment import preset
from avgzsl.training.train import train_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _matmul_floor import ProductRecorder, product_floor, sync, training_step  # noqa: E402
from _timing import Spread, TimingReport, describe_device, resolve_device, steady  # noqa: E402

N_TRAIN, N_TEST, N_CLASSES, N_SEEN = 93_865, 31_280, 33, 23


def random_split(n: int, *, seen_only: bool, seed: int) -> FeatureSplit:
    g = torch.Generator().manual_seed(seed)
    n_lab = N_SEEN if seen_only else N_CLASSES
    return FeatureSplit(
        clip_ids=[f"c{seed}-{i}" for i in range(n)],
        audio=torch.randn(n, 1024, generator=g), video=torch.randn(n, 1024, generator=g),
        has_audio=torch.ones(n, dtype=torch.bool), has_video=torch.ones(n, dtype=torch.bool),
        labels=torch.randint(0, n_lab, (n,), generator=g),
        text=torch.randn(N_CLASSES, 300, generator=g),
        classes=ClassTable(names=[f"k{i}" for i in range(N_CLASSES)], seen=np.arange(N_CLASSES) < N_SEEN),
    )


def bench_load(tmp: Path, repeats: int, n_shards: int = 20) -> Spread:
    rng = np.random.default_rng(0)
    ids = np.array([f"yt{i:07d}" for i in range(N_TRAIN)])
    labels = rng.integers(0, N_SEEN, N_TRAIN)
    audio_paths, video_paths = [], []
    for k, chunk in enumerate(np.array_split(np.arange(N_TRAIN), n_shards)):
        for modality, paths in (("audio", audio_paths), ("video", video_paths)):
            feats = rng.standard_normal((len(chunk), 1024), dtype=np.float32)
            paths.append(write_feature_shard(tmp / f"{modality}_{k:03d}.h5", feats, ids[chunk].tolist(),
                                             modality=modality, extractor="bench"))
    classes = ClassTable(names=[f"k{i}" for i in range(N_CLASSES)], seen=np.arange(N_CLASSES) < N_SEEN)
    text = write_feature_shard(tmp / "text.h5", rng.standard_normal((N_CLASSES, 300)), classes.names,
                               modality="text", extractor="bench")
    manifest = pd.DataFrame({"clip_id": ids, "class": [classes.names[i] for i in labels], "split": "trn"})

    def run() -> list[float]:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            split = load_split(manifest, "trn", classes=classes, text_path=text, audio_paths=audio_paths,
                               video_paths=video_paths)
            times.append(time.perf_counter() - t0)
            assert len(split) == N_TRAIN
        return times

    return steady(run, f"load {N_TRAIN} clips x 2 modalities from 20+20 shards, s (goal < 10 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs (after warm-up)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the load and evaluation timings")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    parser.add_argument("--precision", default="float32", choices=["float32", "bfloat16"],
                        help="train.precision of the timed training (the floor times the products in that dtype)")
    parser.add_argument("--skip-load", action="store_true", help="skip the shard-loading benchmark")
    parser.add_argument("--load-only", action="store_true", help="only the shard-loading benchmark (no training)")
    args = parser.parse_args()
    keep_freed_memory()  # as the workflow's training jobs do (avgzsl/runtime/cpu_memory.py)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.load_only:  # the readers' checks change the load time alone; no need to wait for the epochs
        report = TimingReport()
        with tempfile.TemporaryDirectory() as tmp:
            report.add(bench_load(Path(tmp), args.repeats), ".2f")
        report.finish()
        return
    device = resolve_device(args.device)
    report = TimingReport()
    print(f"device={describe_device(device)}")

    cfg = preset("official")
    cfg.train.device, cfg.train.select_epoch, cfg.train.precision = str(device), False, args.precision
    train = random_split(N_TRAIN, seen_only=True, seed=0)
    batches = int(np.ceil(N_TRAIN / cfg.train.batch_size))
    step = training_step(cfg, train, device, N_SEEN)
    with FlopCounterMode(display=False) as counter:
        step()
    with ProductRecorder() as recorder:
        step()
    flops_epoch = counter.get_total_flops() * batches

    train_model(cfg, train, None, epochs=1, progress=False)  # warm-up: allocator, kernels
    sync(device)
    t0 = time.perf_counter()
    train_model(cfg, train, None, epochs=0, progress=False)
    setup = time.perf_counter() - t0  # copy + normalise the inputs, build the model: once per training run

    attempts: list[tuple[np.ndarray, np.ndarray]] = []  # (epoch seconds, floors) of each attempt

    def timed_epochs() -> list[float]:
        # Paired measurements: the floor is re-measured right after every epoch, outside the epoch's time, so
        # that drifts in the machine's speed cancel in each epoch's ratio.
        floors, marks = [], []  # marks: (end of an epoch, start of the next)

        def after_epoch(msg):
            sync(device)
            end = time.perf_counter()
            floors.append(product_floor(recorder.calls, device) * batches)
            marks.append((end, time.perf_counter()))

        train_model(cfg, train, None, epochs=args.epochs + 1, progress=False, log=after_epoch)
        epoch_times = np.array([marks[i][0] - marks[i - 1][1] for i in range(1, len(marks))])  # epoch 1 skipped
        attempts.append((epoch_times, np.array(floors[1:])))
        return list(epoch_times / attempts[-1][1])

    print(f"train: {N_TRAIN} clips, batch {cfg.train.batch_size}, {batches} batches/epoch "
          f"(once per run: setup {setup:.2f} s)")
    ratios = steady(timed_epochs, "epoch / floor (goal <= 1.3)", unit="x")
    epoch_times, floors = next(a for a in attempts if list(a[0] / a[1]) == ratios.values)
    report.add(Spread("seconds per epoch", list(epoch_times), attempts=ratios.attempts))
    report.add(Spread(f"floor: the epoch's {len(recorder.calls) * batches} matrix products timed alone",
                      list(floors), attempts=ratios.attempts))
    print(f"  FLOPs per epoch (f+b)    {flops_epoch / 1e9:8.1f} GFLOP")
    print(f"  matmul throughput        {flops_epoch / np.median(floors) / 1e9:8.1f} GFLOP/s (FLOPs / floor)")
    report.add(ratios, ".2f")

    if not args.skip_load:
        with tempfile.TemporaryDirectory() as tmp:
            report.add(bench_load(Path(tmp), args.repeats), ".2f")

    test, val = random_split(N_TEST, seen_only=False, seed=1), random_split(N_TEST, seen_only=False, seed=2)
    model = create_model(cfg.model, cfg.loss).to(device).eval()

    def evaluate_all() -> list[float]:
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            scores, val_scores = model_scores(model, test, device), model_scores(model, val, device)
            evaluate_scores(scores, test.labels.numpy(), test.classes.seen, val_scores=val_scores,
                            val_labels=val.labels.numpy())
            times.append(time.perf_counter() - t0)
        return times

    report.add(steady(evaluate_all, f"evaluate {N_TEST} test (+{N_TEST} val for beta) clips x {N_CLASSES} classes, "
                      "audio/video/both, classification + calibration + retrieval, s (goal < 5 s)"), ".2f")
    report.finish()


if __name__ == "__main__":
    main()
