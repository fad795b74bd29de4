"""The matrix-product floor of a training step, shared by the training benchmarks.

One step (forward + backward) runs once under a recorder that notes every matrix product (`mm`, `addmm`,
`bmm`) with its operand shapes and layouts; the floor is the time those products take when each is timed
alone. An epoch divided by its own floor says how much of it is anything but matrix products.
"""

from __future__ import annotations

import time
from collections import Counter

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from avgzsl.formats.feature_split import FeatureSplit
from avgzsl.models.registry import create_model
from avgzsl.training.train import ClassPairSampler, PairBatcher, training_autocast

PRODUCTS = (torch.ops.aten.mm.default, torch.ops.aten.addmm.default, torch.ops.aten.bmm.default)


def training_step(cfg, split: FeatureSplit, device, n_seen: int):
    """One step's forward + backward on one batch, as a closure (the model in training mode); with
    `train.avca_extra_embedding_pass`, the step's extra no-grad embedding pass too, as training runs it."""
    model = create_model(cfg.model, cfg.loss).to(device).train()
    sampler = ClassPairSampler(split.labels.to(device), generator=torch.Generator(device=device).manual_seed(0),
                               device=device)
    p, q = sampler.sample(cfg.train.batch_size)
    text = split.text.to(device)
    batch = PairBatcher(split.audio.to(device), split.video.to(device), text, split.labels.to(device),
                        text[:n_seen], _sequences(model, split, device))(p, q)  # one batch, no buffer reuse

    def step():
        with training_autocast(device, cfg.train.precision):  # bfloat16 products under train.precision
            terms = model.training_terms(batch)
        loss = torch.stack(list(terms.values())).sum()
        loss.backward()
        if cfg.train.avca_extra_embedding_pass:
            with training_autocast(device, cfg.train.precision):
                model.extra_embedding_pass(batch)
    return step


def _sequences(model, split: FeatureSplit, device) -> dict | None:
    """A temporal model's batch inputs (the clips' sequences and each clip's row of the class table), as training
    gathers them; None for a model of averaged features."""
    if not model.sequence_inputs:
        return None
    seen = split.seen.to(device)
    class_pos = (torch.cumsum(seen.long(), 0) - 1)[split.labels.to(device)]
    return {"audio_seq": split.audio_seq.to(device), "video_seq": split.video_seq.to(device), "class_pos": class_pos}


def product_flops(calls) -> int:
    """Floating-point operations of the recorded products: 2 x m x k x n each (times the batch for `bmm`)."""
    total = 0
    for sa, _, sb, _, _ in calls:
        batch = 1
        for d in sa[:-2]:
            batch *= d
        total += 2 * batch * sa[-2] * sa[-1] * sb[-1]
    return total


class ProductRecorder(TorchDispatchMode):
    """Records every matrix product a step runs: operand shapes, strides (transposed or not) and dtype."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func in PRODUCTS:
            a, b = args[-2:] if func is torch.ops.aten.addmm.default else args[:2]
            self.calls.append((tuple(a.shape), a.stride(), tuple(b.shape), b.stride(), a.dtype))
        return func(*args, **(kwargs or {}))


def _operand(shape, stride, device, dtype=torch.float32):
    """A random tensor with the recorded layout: the last two axes transposed where autograd passed a view."""
    if len(shape) >= 2 and stride[-2] == 1 and shape[-2] > 1:
        return torch.randn(*shape[:-2], shape[-1], shape[-2], device=device, dtype=dtype).transpose(-1, -2)
    return torch.randn(shape, device=device, dtype=dtype)


def product_floor(calls, device, repeats: int = 10) -> float:
    """Seconds one step's matrix products take on their own: each recorded product, timed in isolation."""
    total = 0.0
    for (sa, ta, sb, tb, dtype), count in Counter(calls).items():
        a, b = _operand(sa, ta, device, dtype), _operand(sb, tb, device, dtype)
        for _ in range(2):  # warm-up
            torch.matmul(a, b)
        sync(device)
        t0 = time.perf_counter()
        for _ in range(repeats):
            torch.matmul(a, b)
        sync(device)
        total += count * (time.perf_counter() - t0) / repeats
    return total


COLD_SWEEP_BYTES = 64 * 2**20  # twice this CPU's 32 MiB last-level cache


def cold_product_floor(calls, repeats: int = 10) -> float:
    """`product_floor` on the CPU with cold caches: before each timed product a 64 MiB buffer is rewritten, so
    the operands come from memory, as they mostly do inside a step (their last use was many ops earlier).

    A diagnostic beside the floor, not the floor: it says how much of epoch / floor is the step's operands
    missing the cache. Median of `repeats` timings per product."""
    sweep = torch.empty(COLD_SWEEP_BYTES // 4)
    total = 0.0
    for (sa, ta, sb, tb, dtype), count in Counter(calls).items():
        a, b = _operand(sa, ta, "cpu", dtype), _operand(sb, tb, "cpu", dtype)
        torch.matmul(a, b)
        times = []
        for _ in range(repeats):
            sweep.fill_(1.0)
            t0 = time.perf_counter()
            torch.matmul(a, b)
            times.append(time.perf_counter() - t0)
        total += count * sorted(times)[len(times) // 2]
    return total


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_epochs(cfg, split: FeatureSplit, step, device, *, batches: int, epochs: int):
    """Train `epochs` timed epochs (after one warm-up) of `batches` batches each with `step`'s model settings.

    Returns (seconds per epoch, the product floor measured between epochs, the recorded products of one step,
    forward + backward FLOPs of one epoch). The floor is re-measured beside each epoch so that both see the
    same machine state.
    """
    from torch.utils.flop_counter import FlopCounterMode

    from avgzsl.training.train import train_model

    with FlopCounterMode(display=False) as counter:
        step()
    with ProductRecorder() as recorder:
        step()
    floors, marks = [], []  # marks: (end of an epoch, start of the next), the floor measured in between

    def after_epoch(msg):
        sync(device)
        end = time.perf_counter()
        floors.append(product_floor(recorder.calls, device) * batches)
        marks.append((end, time.perf_counter()))

    train_model(cfg, split, None, epochs=epochs + 1, select=False, progress=False, log=after_epoch)
    times = [marks[i][0] - marks[i - 1][1] for i in range(1, len(marks))]  # epoch 1: warm-up
    return times, floors[1:], recorder.calls, counter.get_total_flops() * batches
