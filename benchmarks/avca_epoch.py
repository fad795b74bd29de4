"""One stage-1 epoch of AVCA and of AVGZSLNet at full VGGSound-GZSL scale, against the FLOP floor.

Synthetic features of the real sizes: `main` features (SeLaVi, 512-d audio and video), 300-d word vectors,
VGGSound-GZSL's stage-1 classes (138 training classes, 69 val-unseen; `class-split/main_split/stage_1_*.txt`
of AVCA-GZSL's repository) and about 9 x 3,102 = 27,918 stage-1 training clips (the val-seen list holds 3,102
clips, roughly a tenth of the seen-class clips; AVCA-GZSL does not publish the train list's length). The
clip count only sizes the tables a batch is gathered from: an epoch is 500 batches in both presets.

* AVCA: `--preset avca-vggsound-main`, `model.kind avca` (batch 64, 500 batches);
* AVGZSLNet: `--preset avca` (AVCA-GZSL's AVGZSLNet: batch 256, 500 batches).

As in benchmarks/train_throughput.py, the floor is the time the epoch's own matrix products take when nothing
else runs: every `mm`, `addmm` and `bmm` of one training step (forward and backward) is recorded with its
shapes and layouts, each is timed alone, and the sum is scaled to the epoch's 500 steps. The floor is
re-measured after every timed epoch and each epoch is divided by its own floor (a shared machine's speed
drifts); the report gives min / median / max over the timed epochs. Goal: epoch / floor <= 1.5.

On the CPU it also prints the products' time with cold caches (each timed alone right after a 64 MiB buffer is
rewritten): inside a step a product's operands were last touched many ops earlier, so that part of the ratio is
memory traffic the floor (operands hot from the previous repeat) does not see. A diagnostic; the goal is
against the floor.

With `--avca-repo PATH` (a checkout of AVCA-GZSL, and `einops`, which their AVCA imports) it also times their own
AVCA: `src/model_improvements.py`'s `AVCA` with VGGSound-GZSL's `main` run-script settings (batch 64, encoder and
decoder hidden 512, dropout 0 / 0 / 0.1, depth 1, momentum 0.1, both extra losses), one `optimize_params` call a
step on pairs drawn and gathered as ours are, against the floor of its own products.

Usage: python benchmarks/avca_epoch.py [--epochs 3] [--batches 500] [--threads N] [--device auto] [--models avca,avgzslnet]
                                       [--avca-repo PATH]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from avgzsl.formats.feature_split import FeatureSplit
from avgzsl.formats.manifest import ClassTable
from avgzsl.runtime.cpu_memory import keep_freed_memory
from avgzsl.runtime.device import resolve_device
from avgzsl.settings.experiment import build_experiment
from avgzsl.training.train import ClassPairSampler, PairBatcher

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _avca_repo import import_their_module, plateau_scheduler_without_verbose  # noqa: E402
from _matmul_floor import ProductRecorder, cold_product_floor, product_floor, sync, time_epochs, training_step  # noqa: E402
from _timing import Spread, TimingReport  # noqa: E402

N_TRAIN, N_SEEN, N_VAL_UNSEEN = 27_918, 138, 69
DIM_AV, DIM_TEXT = 512, 300
SETTINGS = {  # model -> (preset, kind)
    "avca": ("avca-vggsound-main", "avca"),
    "avgzslnet": ("avca", "avgzslnet"),
}


def stage1_train_split(seed: int = 0) -> FeatureSplit:
    g = torch.Generator().manual_seed(seed)
    n_classes = N_SEEN + N_VAL_UNSEEN
    return FeatureSplit(
        clip_ids=[f"v{i}" for i in range(N_TRAIN)],
        audio=torch.randn(N_TRAIN, DIM_AV, generator=g), video=torch.randn(N_TRAIN, DIM_AV, generator=g),
        has_audio=torch.ones(N_TRAIN, dtype=torch.bool), has_video=torch.ones(N_TRAIN, dtype=torch.bool),
        labels=torch.randint(0, N_SEEN, (N_TRAIN,), generator=g),
        text=torch.randn(n_classes, DIM_TEXT, generator=g),
        classes=ClassTable(names=[f"k{i:03d}" for i in range(n_classes)], seen=np.arange(n_classes) < N_SEEN),
    )


def experiment(model: str, device: torch.device, batches: int = 500):
    preset, kind = SETTINGS[model]
    # no val split here: the plateau schedule (which needs one) is off; it costs nothing per batch anyway
    return build_experiment(name=model, preset_name=preset,
                            model={"kind": kind, "audio_dim": DIM_AV, "video_dim": DIM_AV, "text_dim": DIM_TEXT},
                            train={"lr_schedule": "none", "select_epoch": False, "device": str(device),
                                   "batches_per_epoch": batches})


def bench(model: str, split: FeatureSplit, device: torch.device, epochs: int, batches: int,
          report: TimingReport) -> None:
    cfg = experiment(model, device, batches)
    batches = cfg.train.batches_per_epoch
    step = training_step(cfg, split, device, N_SEEN)
    times, floors, calls, flops_epoch = time_epochs(cfg, split, step, device, batches=batches, epochs=epochs)
    times, floors = np.array(times), np.array(floors)
    ratios = times / floors
    scale = 500 / batches  # the presets' epoch is 500 batches; --batches times a shorter one
    print(f"{model}: preset {SETTINGS[model][0]}, batch {cfg.train.batch_size}, {batches} batches timed per epoch "
          f"(scaled to 500), {len(calls)} products/step")
    print(f"  seconds per epoch        {np.median(times) * scale:8.3f}  (min {times.min() * scale:.3f}, "
          f"max {times.max() * scale:.3f}; {epochs} epochs)")
    print(f"  FLOPs per epoch (f+b)    {flops_epoch * scale / 1e9:8.2f} GFLOP")
    print(f"  floor (products alone)   {np.median(floors) * scale:8.3f} s")
    print(f"  epoch / floor            {np.median(ratios):8.2f}  (min {ratios.min():.2f}, max {ratios.max():.2f}; "
          f"goal <= 1.5)")
    if device.type == "cpu":  # how much of the ratio is operands coming from memory instead of cache
        cold = cold_product_floor(calls) * batches
        print(f"  products, cold caches    {cold * scale:8.3f} s  (each product alone after a 64 MiB sweep: "
              f"{cold / np.median(floors):.2f} x the floor; epoch / this {np.median(times) / cold:.2f})")
    # the spread of the epoch times says whether other processes competed for the cores (benchmarks/_timing.py)
    report.add(Spread(f"{model} epoch", list(times * scale)), quiet=True)


def their_avca(repo: Path, split: FeatureSplit, device: torch.device, epochs: int, batches: int,
               report: TimingReport) -> None:
    """AVCA-GZSL's AVCA step (their forward, loss, backward and Adam in `optimize_params`), timed like `bench`."""
    model_mod = import_their_module(repo, "model_improvements")
    params = import_their_module(repo, "utils_improvements").get_model_params(
        0.001, 1, 1, True, True, 0.0, 0.0, 0.1, 512, 512, 1, 0.1)  # run_scripts/VGGSound-GZSL, main, stage 1
    with plateau_scheduler_without_verbose():
        model = model_mod.AVCA(params, input_size_audio=DIM_AV, input_size_video=DIM_AV).to(device).train()
    sampler = ClassPairSampler(split.labels.to(device), generator=torch.Generator(device=device).manual_seed(0),
                               device=device)
    text = split.text.to(device)
    gather = PairBatcher(split.audio.to(device), split.video.to(device), text, split.labels.to(device),
                         text[:N_SEEN])
    b = 64

    def step() -> None:
        batch = gather(*sampler.sample(b))  # rows [0, b): anchors, [b, 2b): their negatives
        xa, xv, xt = batch["xa"], batch["xv"], batch["xt"]
        loss, _ = model.optimize_params(xa[:b], xv[:b], None, xt[:b], xa[b:], xv[b:], xt[b:], optimize=True)
        float(loss.detach())  # the value their loop logs every step

    for _ in range(20):
        step()
    with ProductRecorder() as recorder:
        step()
    times, floors = [], []
    for _ in range(epochs):
        sync(device)
        t0 = time.perf_counter()
        for _ in range(batches):
            step()
        sync(device)
        times.append(time.perf_counter() - t0)
        floors.append(product_floor(recorder.calls, device) * batches)
    times, ratios, scale = np.array(times), np.array(times) / np.array(floors), 500 / batches
    print(f"AVCA-GZSL's own AVCA (src/model_improvements.py), batch {b}, {batches} batches timed per epoch "
          f"(scaled to 500), {len(recorder.calls)} products/step")
    print(f"  seconds per epoch        {np.median(times) * scale:8.3f}  (min {times.min() * scale:.3f}, "
          f"max {times.max() * scale:.3f}; {epochs} epochs)")
    print(f"  floor (products alone)   {np.median(floors) * scale:8.3f} s")
    print(f"  epoch / floor            {np.median(ratios):8.2f}  (min {ratios.min():.2f}, max {ratios.max():.2f})")
    report.add(Spread("their avca epoch", list(times * scale)), quiet=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs (after one warm-up epoch)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batches", type=int, default=500, help="batches timed per epoch (500: a full epoch)")
    parser.add_argument("--models", default="avca,avgzslnet", help="comma-separated: avca, avgzslnet")
    parser.add_argument("--avca-repo", type=Path, help="a checkout of AVCA-GZSL: also time their own AVCA")
    args = parser.parse_args()
    keep_freed_memory()  # as the workflow's training jobs do (avgzsl/runtime/cpu_memory.py)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    report = TimingReport()
    print(f"device={device} torch={torch.__version__} threads={torch.get_num_threads()}")
    split = stage1_train_split()
    print(f"VGGSound-GZSL stage 1 (synthetic): {N_TRAIN} train clips, {N_SEEN} seen classes, "
          f"{DIM_AV}/{DIM_AV}-d audio/video, {DIM_TEXT}-d text")
    for model in args.models.split(","):
        if model not in SETTINGS:
            raise SystemExit(f"unknown model {model!r}; choose from {sorted(SETTINGS)}")
        bench(model, split, device, args.epochs, args.batches, report)
    if args.avca_repo:
        their_avca(args.avca_repo.resolve(), split, device, args.epochs, args.batches, report)
    report.finish()


if __name__ == "__main__":
    main()
