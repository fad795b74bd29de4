"""Is each hand-written autograd node still worth its code? A training step with it against the plain torch form.

The project keeps a hand-written forward/backward only where it gains >= 5 % of a training step (forward,
backward and optimiser step: an epoch is that step repeated, plus sampling). Three are measured:

  * `linear_dropout_relu` (models/layers.py): Linear -> dropout -> ReLU as one node, vs relu(dropout(linear(x)))
    — the `official` preset's F_A / F_V at full AudioSetZSL scale (batch 4096);
  * `_BlockBatchNormReLU` (models/layers.py): BatchNorm -> ReLU -> dropout per row block as one node, vs a
    BatchNorm call per block, ReLU and dropout — AVCA (`avca-vggsound-main`, batch 64) and AVGZSLNet with
    the `avca` preset (batch 256), VGGSound-GZSL sizes.

Each pair alternates in blocks of `--steps` steps in one process (machine drift cancels), `--rounds` times;
the table gives the median ms per step of each form and the gain of the hand-written one.

Usage: python benchmarks/handwritten_kernels.py [--rounds 7] [--steps 4] [--threads N]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from avgzsl.formats.feature_split import FeatureSplit
from avgzsl.formats.manifest import ClassTable
from avgzsl.models import layers
from avgzsl.models.registry import create_model
from avgzsl.runtime.cpu_memory import keep_freed_memory
from avgzsl.settings.experiment import build_experiment
from avgzsl.training.train import ClassPairSampler, PairBatcher, create_optimizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import describe_device, machine_load  # noqa: E402


def plain_linear_dropout_relu(x, linear, dropout):
    return torch.relu(dropout(linear(x)))


def plain_batch_norm_relu_dropout(h, bn, dropout, blocks):
    out = torch.cat([bn(block) for block in h.chunk(blocks)]) if blocks > 1 else bn(h)
    out = F.relu(out)
    return dropout(out) if dropout is not None else out


# (module, attribute, plain replacement)
KERNELS = {
    "linear_dropout_relu": (layers, "linear_dropout_relu", plain_linear_dropout_relu),
    "_BlockBatchNormReLU": (layers, "_batch_norm_relu_dropout", plain_batch_norm_relu_dropout),
}


@contextlib.contextmanager
def plain(kernel: str):
    module, name, replacement = KERNELS[kernel]
    original = getattr(module, name)
    setattr(module, name, replacement)
    try:
        yield
    finally:
        setattr(module, name, original)


def synthetic_split(n: int, dim_av: int, dim_text: int, n_classes: int, n_seen: int) -> FeatureSplit:
    g = torch.Generator().manual_seed(0)
    return FeatureSplit(
        clip_ids=[f"c{i}" for i in range(n)],
        audio=torch.randn(n, dim_av, generator=g), video=torch.randn(n, dim_av, generator=g),
        has_audio=torch.ones(n, dtype=torch.bool), has_video=torch.ones(n, dtype=torch.bool),
        labels=torch.randint(0, n_seen, (n,), generator=g), text=torch.randn(n_classes, dim_text, generator=g),
        classes=ClassTable(names=[f"k{i}" for i in range(n_classes)], seen=np.arange(n_classes) < n_seen),
    )


# setting -> (preset, model kind, features: clips, audio/video dim, text dim, classes, seen)
SETTINGS = {
    "official AVGZSLNet, AudioSetZSL": ("official", "avgzslnet", (93_865, 1024, 300, 33, 23)),
    "AVCA, VGGSound-GZSL main": ("avca-vggsound-main", "avca", (20_000, 512, 300, 276, 220)),
    "avca-preset AVGZSLNet, VGGSound-GZSL main": ("avca", "avgzslnet", (20_000, 512, 300, 276, 220)),
}
WHICH = {
    "linear_dropout_relu": ["official AVGZSLNet, AudioSetZSL"],
    "_BlockBatchNormReLU": ["AVCA, VGGSound-GZSL main", "avca-preset AVGZSLNet, VGGSound-GZSL main"],
}


def full_step(setting: str):
    """One training step (forward, backward, optimiser) of the setting on one fixed batch, as a closure."""
    preset, kind, (n, dim_av, dim_text, n_classes, n_seen) = SETTINGS[setting]
    cfg = build_experiment(name=setting, preset_name=preset,
                           model={"kind": kind, "audio_dim": dim_av, "video_dim": dim_av, "text_dim": dim_text},
                           train={"lr_schedule": "none", "select_epoch": False, "device": "cpu"})
    split = synthetic_split(n, dim_av, dim_text, n_classes, n_seen)
    torch.manual_seed(0)
    model = create_model(cfg.model, cfg.loss).train()
    optimizer = create_optimizer(model, cfg.train)
    sampler = ClassPairSampler(split.labels, generator=torch.Generator().manual_seed(0), device=torch.device("cpu"))
    p, q = sampler.sample(cfg.train.batch_size)
    batch = PairBatcher(split.audio, split.video, split.text, split.labels, split.text[:n_seen])(p, q)

    def step():
        optimizer.zero_grad(set_to_none=True)
        terms = model.training_terms(batch)
        torch.stack(list(terms.values())).sum().backward()
        optimizer.step()
    return step


def per_step_ms(step, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps * 1e3


def measure(kernel: str, setting: str, rounds: int, steps: int) -> tuple[float, float]:
    step = full_step(setting)
    for _ in range(2):  # warm both paths
        step()
        with plain(kernel):
            step()
    hand, base = [], []
    for _ in range(rounds):
        hand.append(per_step_ms(step, steps))
        with plain(kernel):
            base.append(per_step_ms(step, steps))
    return statistics.median(hand), statistics.median(base)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    keep_freed_memory()
    print(f"device: {describe_device(torch.device('cpu'))}; threads {torch.get_num_threads()}; load {machine_load()}")
    print("| kernel | setting | hand-written ms/step | plain ms/step | gain |")
    print("|---|---|---|---|---|")
    for kernel, settings in WHICH.items():
        for setting in settings:
            hand, base = measure(kernel, setting, args.rounds, args.steps)
            print(f"| {kernel} | {setting} | {hand:.2f} | {base:.2f} | {(base - hand) / base * 100:+.1f} % |",
                  flush=True)
    print(f"load at the end: {machine_load()}")


if __name__ == "__main__":
    main()
