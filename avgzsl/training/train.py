"""Training: in-memory class-pair sampling, SGD with MultiStepLR, epoch selection on validation HM.

The whole training split lives in device tensors; a batch is a pair of index
vectors (positive and negative class clips) gathered in one call, so there is no
per-sample Python and no file I/O inside the loop.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from avgzsl.evaluation.protocol import improves, selection_score, validation_metrics
from avgzsl.evaluation.scoring import model_distances, reported_fusion, selection_modality
from avgzsl.formats.feature_split import FeatureSplit
from avgzsl.formats.torch_files import save_torch_file
from avgzsl.models.method import ZSLMethod, check_finite_terms, check_terms, check_window_hops
from avgzsl.models.registry import create_model, method_class, required_modalities
from avgzsl.runtime.device import resolve_device, set_torch_threads
from avgzsl.runtime.seeding import seed_everything
from avgzsl.settings.experiment import ExperimentConfig
from avgzsl.training.checkpoint import _checkpoint


def training_autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The context the training forward pass runs in: torch.autocast for "bfloat16", nothing for "float32".

    Autocast runs the matrix products in bfloat16 and keeps the weights float32; the losses cast their inputs
    back to float32 (avgzsl.models.losses.full_precision), so only the networks' activations lose precision.
    """
    if precision == "float32":
        return contextlib.nullcontext()
    if precision != "bfloat16":
        raise ValueError(f"train.precision must be 'float32' or 'bfloat16', got {precision!r}")
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError("train.precision 'bfloat16' needs a GPU with bfloat16 support; this one has none "
                         "(use 'float32')")
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


class ClassPairSampler:
    """Draws (positive class, negative class) pairs uniformly, then one clip from each class."""

    def __init__(self, labels: torch.Tensor, *, generator: torch.Generator, device: torch.device):
        classes, counts = torch.unique(labels, return_counts=True)
        if len(classes) < 2:
            raise ValueError(f"class-pair sampling needs at least 2 training classes, got {len(classes)}")
        order = torch.argsort(labels, stable=True)
        self.order = order.to(device)  # clip indices grouped by class
        self.offsets = (torch.cumsum(counts, 0) - counts).to(device)
        self.counts = counts.to(device)
        self.classes = classes.to(device)
        self.generator, self.device = generator, device

    def _draw(self, class_slot: torch.Tensor) -> torch.Tensor:
        u = torch.rand(class_slot.shape, generator=self.generator, device=self.device)
        within = (u * self.counts[class_slot]).long().clamp_max(self.counts[class_slot] - 1)
        return self.order[self.offsets[class_slot] + within]

    def sample(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        k = len(self.classes)
        p = torch.randint(0, k, (batch_size,), generator=self.generator, device=self.device)
        q = (p + torch.randint(1, k, (batch_size,), generator=self.generator, device=self.device)) % k
        return self._draw(p), self._draw(q)


class PairBatcher:
    """Gathers positive and negative rows into buffers reused across batches: rows [0, B) are p, [B, 2B) q.

    A fresh (2B, 1024) tensor per batch costs more in page faults than the copy itself (benchmarks/README.md),
    and training only reads a batch before the next one is drawn.
    """

    def __init__(self, xa, xv, text, labels, class_text, sequences: dict | None = None):
        self.xa, self.xv, self.text, self.labels, self.class_text = xa, xv, text, labels, class_text
        self.sequences = sequences  # audio_seq, video_seq (Sequences), class_pos (N,): for a temporal model
        self.buffers: dict[str, torch.Tensor] = {}

    def _gather(self, name: str, source: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        buf = self.buffers.get(name)
        if buf is None or buf.shape[0] != idx.shape[0]:
            buf = self.buffers[name] = source.new_empty((idx.shape[0], source.shape[1]))
        return torch.index_select(source, 0, idx, out=buf)

    def __call__(self, p: torch.Tensor, q: torch.Tensor) -> dict[str, torch.Tensor]:
        idx = torch.cat([p, q])
        batch = {
            "xa": self._gather("xa", self.xa, idx),
            "xv": self._gather("xv", self.xv, idx),
            "xt": self._gather("xt", self.text, self.labels[idx]),
            "class_text": self.class_text,
        }
        if self.sequences is not None:  # the model cuts and pads its own windows (its collator)
            seq = self.sequences
            batch.update(idx=idx, audio_seq=seq["audio_seq"], video_seq=seq["video_seq"],
                         target=seq["class_pos"][idx])
        return batch


def training_clips(split: FeatureSplit, modalities: tuple[str, ...]) -> FeatureSplit:
    """Seen-class clips that carry every modality the model trains on."""
    keep = split.seen[split.labels]
    if "audio" in modalities:
        keep = keep & split.has_audio
    if "video" in modalities:
        keep = keep & split.has_video
    return split if bool(keep.all()) else split.subset(keep)  # no 2 x 385 MB copy when every clip qualifies


@dataclass
class TrainResult:
    model: ZSLMethod
    history: list[dict] = field(default_factory=list)
    selected_epoch: int = 0
    device: torch.device = torch.device("cpu")


def create_optimizer(model: torch.nn.Module, t) -> torch.optim.Optimizer:
    if t.optimizer == "adam":  # AVCA-GZSL: Adam, lr (their main.py:220), AVCA's weight decay
        # fused: one kernel for all parameters, the same update (about 5x faster than the per-tensor loop on CPU
        # for AVCA's 1.7 M parameters, where the optimiser step was a fifth of a batch)
        return torch.optim.Adam(model.parameters(), lr=t.lr, weight_decay=t.weight_decay, fused=True)
    return torch.optim.SGD(model.parameters(), lr=t.lr, momentum=t.momentum)


def create_scheduler(optimizer: torch.optim.Optimizer, t):
    """MultiStepLR (released code), ReduceLROnPlateau on the validation score (AVCA's main.py:222), or none."""
    if t.lr_schedule == "multistep":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(t.milestones), gamma=t.gamma)
    if t.lr_schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, "max", factor=t.gamma, patience=t.patience)
    return None


@dataclass
class _Batches:
    """Where an epoch's batches come from: class pairs drawn by the sampler, gathered from device tensors."""

    sampler: ClassPairSampler
    gather: PairBatcher
    per_epoch: int


def _training_batches(cfg: ExperimentConfig, train: FeatureSplit, device: torch.device,
                      generator: torch.Generator) -> _Batches:
    """The seen-class clips that carry the model's modalities, moved to `device` once for the whole run."""
    t = cfg.train
    data = training_clips(train, required_modalities(cfg.model.kind))
    if len(data) == 0:
        raise ValueError(f"model.kind {cfg.model.kind!r} trains on {' and '.join(required_modalities(cfg.model.kind))}: "
                         "no seen-class training clip has them")
    if not bool(data.seen[data.labels].all()):  # a guard on the one rule zero-shot learning rests on
        raise AssertionError("an unseen-class clip reached training")
    xa, xv = data.audio.to(device), data.video.to(device)  # (N, Da), (N, Dv)
    labels = data.labels.to(device)
    text = data.text.to(device)  # (C, Dt)
    if cfg.model.normalize_inputs:  # once here instead of in every batch
        xa, xv, text = F.normalize(xa, dim=1), F.normalize(xv, dim=1), F.normalize(text, dim=1)
    seen_text = text[data.seen.to(device)]  # (C_seen, Dt): the classes training may compare against
    sampler = ClassPairSampler(labels, generator=generator, device=device)
    gather = PairBatcher(xa, xv, text, labels, seen_text, _training_sequences(cfg, data, device))
    return _Batches(sampler, gather, t.batches_per_epoch or max(1, math.ceil(len(data) / t.batch_size)))


def _training_sequences(cfg: ExperimentConfig, data: FeatureSplit, device: torch.device) -> dict | None:
    """The training clips' sequences on `device`, for a model that reads them (`sequence_inputs`)."""
    if not method_class(cfg.model.kind).sequence_inputs:
        return None
    if data.audio_seq is None or data.video_seq is None:
        raise ValueError(f"model.kind {cfg.model.kind!r} trains on feature sequences: give sequence shards for "
                         "audio and video (a temporal-features import writes them)")
    seen = data.seen.to(device)
    class_pos = (torch.cumsum(seen.long(), 0) - 1)[data.labels.to(device)]  # each clip's row of class_text
    return {"audio_seq": data.audio_seq.to(device), "video_seq": data.video_seq.to(device), "class_pos": class_pos}


@contextlib.contextmanager
def _forward_context(model: ZSLMethod, cfg: ExperimentConfig, device: torch.device):
    """What a training forward runs in: inputs already normalised (when asked) and the training precision."""
    with (model.normalized_inputs() if cfg.model.normalize_inputs else contextlib.nullcontext(),
          training_autocast(device, cfg.train.precision)):
        yield


def _train_step(model: ZSLMethod, optimizer: torch.optim.Optimizer, batch: dict, cfg: ExperimentConfig,
                device: torch.device) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """One optimiser step on `batch`; the loss terms and their sum."""
    with _forward_context(model, cfg, device):
        terms = check_terms(model, model.training_terms(batch))
    loss = torch.stack(list(terms.values())).sum()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    if cfg.train.avca_extra_embedding_pass:  # AVCA-GZSL's get_embeddings after each step (their src/train.py:111)
        with _forward_context(model, cfg, device):
            model.extra_embedding_pass(batch)
    return terms, loss


def _train_epoch(model: ZSLMethod, optimizer: torch.optim.Optimizer, batches: _Batches, cfg: ExperimentConfig,
                 device: torch.device) -> dict[str, float]:
    """One epoch of optimiser steps; each loss term's mean over the epoch's batches, and their sum's (`loss`)."""
    t = cfg.train
    model.train()
    sums: dict[str, float] = {}
    for step in range(batches.per_epoch):
        p, q = batches.sampler.sample(t.batch_size)
        terms, loss = _train_step(model, optimizer, batches.gather(p, q), cfg, device)
        values = {k: float(v.detach()) for k, v in terms.items()}
        check_finite_terms(model, values, f"batch {step + 1} of the epoch",
                           hint=f"a smaller train.lr than {t.lr:g} ({t.optimizer}) may keep it finite")
        for k, v in values.items():
            sums[k] = sums.get(k, 0.0) + v
        sums["loss"] = sums.get("loss", 0.0) + float(loss.detach())
    return {k: v / batches.per_epoch for k, v in sums.items()}


@dataclass
class _Validation:
    """How an epoch is scored on val: the row that is reported, and the fusion its "both" row uses."""

    split: FeatureSplit
    modality: str
    fusion: str
    cfg: ExperimentConfig

    @classmethod
    def for_model(cls, model: ZSLMethod, val: FeatureSplit, cfg: ExperimentConfig) -> "_Validation":
        # select on the row that is reported: an attention model's "both" is the attention-weighted one, and
        # under the avca protocol a plain model's "both" is d_a + d_v
        t = cfg.train
        return cls(val, selection_modality(model, t.select_modality), reported_fusion(model, t.protocol), cfg)

    def metrics(self, model: ZSLMethod, device: torch.device) -> dict:
        d = model_distances(model, self.split, device, fusion=self.fusion)[self.modality]
        return validation_metrics(d, self.split, self.modality, self.cfg.train.missing_modality)


class _EpochSelection:
    """The epoch with the best validation score so far; strictly better only, so the earliest of equal ones wins."""

    def __init__(self, protocol: str, last_epoch: int) -> None:
        self.protocol, self.last_epoch = protocol, last_epoch
        self.best_score, self.best_state, self.best_epoch = -1.0, None, last_epoch

    def offer(self, epoch: int, score: float, model: torch.nn.Module) -> None:
        if improves(score, self.best_score, self.protocol):
            self.best_score, self.best_epoch = score, epoch
            self.best_state = copy.deepcopy(model.state_dict())

    def keep_best(self, model: torch.nn.Module) -> int:
        """Load the selected epoch's weights into `model` (the last epoch's stay when none was selected)."""
        if self.best_state is None:
            return self.last_epoch
        model.load_state_dict(self.best_state)
        return self.best_epoch


def _log_row(row: dict) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())


def train_model(
    cfg: ExperimentConfig,
    train: FeatureSplit,
    val: FeatureSplit | None = None,
    *,
    epochs: int | None = None,
    select: bool = True,
    checkpoint: str | os.PathLike | None = None,
    progress: bool = True,
    log: Callable[[str], None] = lambda msg: None,
) -> TrainResult:
    """Train on the seen-class clips of `train`; keep the epoch with the best validation HM.

    select=False trains for exactly `epochs` epochs and keeps the last; `val` then only drives a plateau
    learning-rate schedule (AVCA's retraining on trn+val steps its scheduler on val HM as well).
    """
    t = cfg.train
    epochs = t.epochs if epochs is None else epochs
    set_torch_threads(t.num_threads)
    device = resolve_device(t.device, option="train.device")
    seed_everything(t.seed)
    generator = torch.Generator(device=device).manual_seed(t.seed)
    batches = _training_batches(cfg, train, device, generator)

    model = create_model(cfg.model, cfg.loss).to(device)
    sequences = {m: getattr(train, f"{m}_seq", None) for m in ("audio", "video")}
    check_window_hops(type(model), model.options, {m: s.hop_s for m, s in sequences.items() if s is not None})
    optimizer = create_optimizer(model, t)
    scheduler = create_scheduler(optimizer, t)
    plateau = t.lr_schedule == "plateau"
    if plateau and val is None and epochs > 0:
        raise ValueError("train.lr_schedule 'plateau' steps on the validation HM and needs a val split")
    selecting = select and t.select_epoch and val is not None
    validation = _Validation.for_model(model, val, cfg) if val is not None and epochs > 0 and (
        selecting or plateau) else None
    selection = _EpochSelection(t.protocol, epochs)
    history = []

    bar = tqdm(range(1, epochs + 1), desc=f"train {cfg.name}", disable=not progress, leave=False)
    for epoch in bar:
        row = {"epoch": epoch, **_train_epoch(model, optimizer, batches, cfg, device)}
        if scheduler is not None and not plateau:
            scheduler.step()
        if validation is not None:
            row.update(validation.metrics(model, device))
            score = selection_score(row, t.protocol)
            if selecting:
                selection.offer(epoch, score, model)
            if plateau:
                scheduler.step(score)
                row["lr"] = optimizer.param_groups[0]["lr"]
        history.append(row)
        shown = {"val_hm": f"{row['val_hm']:.3f}"} if validation is not None else {}
        bar.set_postfix(loss=f"{row['loss']:.3f}", **shown)
        log(_log_row(row))
        if checkpoint is not None:
            save_torch_file(_checkpoint(cfg, model, epoch), Path(checkpoint))
    best_epoch = selection.keep_best(model)
    model.eval()
    if checkpoint is not None:
        save_torch_file(_checkpoint(cfg, model, best_epoch, selected=True), Path(checkpoint))
    return TrainResult(model=model, history=history, selected_epoch=best_epoch, device=device)
