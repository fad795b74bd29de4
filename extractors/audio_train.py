"""Train the audio CNN on seen-class training clips only, resumably.

Zero-shot evaluation is only honest if the audio feature extractor never saw an
unseen class, nor a validation or test clip. Two independent checks enforce that:
`select_training_clips` picks the clips, and `train_audio_cnn` re-checks the
labels and splits of the examples it actually holds right before the first step,
so a bug in selection raises instead of leaking. The classifier head has only
the seen classes, so there is no output an unseen clip could be trained towards.

The checkpoint is rewritten after every epoch with the optimizer and RNG states,
so a killed job resumes at the next epoch and reaches the same weights as an
uninterrupted run; a finished run is recognised and not retrained.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from avgzsl_extractors.audio_cnn import (
    AudioCNN,
    AudioCNNConfig,
    create_audio_cnn,
    read_checkpoint,
    save_checkpoint,
)
from avgzsl_extractors.logmel_batches import SpectrogramSource, as_source, clip_batches
from avgzsl_extractors.precision import to_device
from torch import nn
from tqdm import tqdm

from avgzsl.formats.manifest import ClassTable
from avgzsl.runtime.device import resolve_device, set_torch_threads
from avgzsl.runtime.numeric_env import numeric_environment
from avgzsl.runtime.seeding import seed_everything
from avgzsl.settings.experiment import dataclass_from_dict

TRAIN_SPLIT = "trn"
OPTIMIZERS = ("adam",)


@dataclass
class AudioTrainConfig:
    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    optimizer: str = "adam"  # one of OPTIMIZERS
    seed: int = 0
    # ~5 s at a 10 ms hop; longer clips give a random crop each epoch (augmentation), shorter ones are padded
    frames: int = 496
    # held out of the seen-class trn clips to watch over-fitting; 0 trains on all of them
    val_fraction: float = 0.0
    num_threads: int | None = None  # torch intra-op threads; None leaves torch's default
    device: str = "auto"
    progress: bool = True
    model: AudioCNNConfig = field(default_factory=AudioCNNConfig)

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            self.model = AudioCNNConfig.from_dict(self.model)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer {self.optimizer!r} is not one of {OPTIMIZERS}")
        for name in ("epochs", "batch_size", "frames"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "AudioTrainConfig":
        return dataclass_from_dict(cls, data)


def select_training_clips(labels: Sequence[str], splits: Sequence[str], classes: ClassTable) -> np.ndarray:
    """Indices of clips that may train the audio CNN: split `trn` and a seen class."""
    if len(labels) != len(splits):
        raise ValueError(f"{len(labels)} labels but {len(splits)} splits")
    known = set(classes.names)
    unknown = sorted({str(lab) for lab in labels} - known)
    if unknown:
        raise ValueError(f"labels not in the class table: {unknown}")
    seen = set(classes.seen_names)
    keep = [i for i, (lab, split) in enumerate(zip(labels, splits)) if split == TRAIN_SPLIT and lab in seen]
    return np.asarray(keep, dtype=np.int64)


def check_training_examples(label_idx: torch.Tensor, splits: Sequence[str], classes: ClassTable) -> None:
    """Raise if any example (label_idx into classes.names) is of an unseen class or not from `trn`."""
    seen = torch.from_numpy(classes.seen)
    bad = (~seen[label_idx]).nonzero().flatten()
    if len(bad):
        names = sorted({classes.names[int(label_idx[i])] for i in bad})
        raise ValueError(
            f"{len(bad)} training example(s) of unseen class(es) {names}: the audio CNN must only see seen classes"
        )
    wrong = sorted({s for s in splits if s != TRAIN_SPLIT})
    if wrong:
        first = next(i for i, s in enumerate(splits) if s != TRAIN_SPLIT)
        raise ValueError(
            f"training examples from split(s) {wrong} (e.g. class {classes.names[int(label_idx[first])]!r}): "
            f"the audio CNN must only see {TRAIN_SPLIT!r} clips"
        )


def _fingerprint(cfg: AudioTrainConfig, head: list[str], labels: list[str], lengths: list[int], val: list[int]) -> str:
    """What must match for a checkpoint to be resumed: everything but the epoch count and runtime knobs."""
    settings = cfg.to_dict()
    for key in ("epochs", "num_threads", "device", "progress"):
        settings.pop(key)
    blob = json.dumps([settings, head, labels, lengths, val], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _evaluate(
    model: AudioCNN, source: SpectrogramSource, clips: list[int], y: torch.Tensor, cfg: AudioTrainConfig, device
) -> dict:
    model.eval()
    loss_sum, correct = 0.0, 0
    with torch.inference_mode():
        for b, x in enumerate(clip_batches(source, clips, cfg.batch_size, cfg.frames, None)):
            x = to_device(x, device)
            target = y[b * cfg.batch_size : (b + 1) * cfg.batch_size].to(device)
            logits = model(x)  # (B, n_seen)
            loss_sum += float(nn.functional.cross_entropy(logits, target, reduction="sum"))
            correct += int((logits.argmax(1) == target).sum())
    return {"val_loss": loss_sum / len(clips), "val_acc": correct / len(clips)}


@dataclass
class _Plan:
    """What a run trains on, fixed before the first step; its fingerprint decides whether a checkpoint resumes."""

    head: list[str]  # the classifier's classes: the seen ones, in class-table order
    full_to_head: torch.Tensor  # (C,) head position of each class of the table; -1 for unseen classes
    train_idx: list[int]
    val_idx: list[int]
    y_train_full: torch.Tensor  # (N,) class-table index of each training clip
    y_val_full: torch.Tensor
    fingerprint: str


def _usable_clips(source: SpectrogramSource, labels: Sequence[str], splits: Sequence[str], classes: ClassTable,
                  cfg: AudioTrainConfig) -> np.ndarray:
    """Indices of the seen-class trn clips, after checking their spectrograms' shapes."""
    if len(source) != len(labels):
        raise ValueError(f"{len(source)} spectrograms but {len(labels)} labels")
    idx = select_training_clips(labels, splits, classes)
    if len(idx) == 0:
        raise ValueError("no seen-class trn clips to train the audio CNN on")
    for i, shape in zip(idx, source.shapes(idx)):
        if len(shape) != 2 or shape[0] != cfg.model.n_mels or shape[1] < 1:
            raise ValueError(
                f"clip {i} ({labels[i]!r}): spectrogram shape {shape}, expected ({cfg.model.n_mels}, frames)"
            )
    return idx


def _plan(source: SpectrogramSource, labels: Sequence[str], splits: Sequence[str], classes: ClassTable,
          cfg: AudioTrainConfig) -> _Plan:
    idx = _usable_clips(source, labels, splits, classes, cfg)
    head = classes.seen_names
    full_index = classes.index()
    full_to_head = torch.full((len(classes.names),), -1, dtype=torch.long)
    for h, name in enumerate(head):
        full_to_head[full_index[name]] = h

    # the hold-out draw uses its own stream so it is the same on a fresh run and on resume
    order = np.random.default_rng([cfg.seed, 1]).permutation(idx)
    n_val = int(round(cfg.val_fraction * len(order)))
    val_idx, train_idx = sorted(order[:n_val].tolist()), sorted(order[n_val:].tolist())
    if not train_idx:
        raise ValueError(f"val_fraction={cfg.val_fraction} leaves no training clips out of {len(idx)}")

    y_train_full = torch.tensor([full_index[labels[i]] for i in train_idx], dtype=torch.long)  # (N,)
    y_val_full = torch.tensor([full_index[labels[i]] for i in val_idx], dtype=torch.long)
    lengths = [shape[1] for shape in source.shapes(train_idx)]
    fingerprint = _fingerprint(cfg, head, [labels[i] for i in train_idx], lengths, val_idx)
    return _Plan(head, full_to_head, train_idx, val_idx, y_train_full, y_val_full, fingerprint)


def _guarded_targets(plan: _Plan, splits: Sequence[str], classes: ClassTable) -> tuple[torch.Tensor, torch.Tensor]:
    """Head indices of the training and held-out clips, after the second, independent guard: it inspects the
    very tensors the loop will consume."""
    check_training_examples(plan.y_train_full, [splits[i] for i in plan.train_idx], classes)
    check_training_examples(plan.y_val_full, [splits[i] for i in plan.val_idx], classes)
    # (N,) head indices, all >= 0 after the check
    return plan.full_to_head[plan.y_train_full], plan.full_to_head[plan.y_val_full]


def _saved_state(checkpoint_path: Path, fingerprint: str) -> tuple[dict, dict] | None:
    """The checkpoint and its training state when `checkpoint_path` holds this run's; None when there is none."""
    if not checkpoint_path.exists():
        return None
    payload = read_checkpoint(checkpoint_path)
    state = payload["extra"].get("train_state")
    if state is None:
        raise ValueError(f"{checkpoint_path}: a checkpoint without training state; move it away to retrain")
    if state["fingerprint"] != fingerprint:
        raise ValueError(
            f"{checkpoint_path}: written for other data or settings (fingerprint {state['fingerprint']}, "
            f"now {fingerprint}); delete it to retrain"
        )
    return payload, state


class _Run:
    """One training run's moving parts: the network, its optimiser, the random streams, where they are saved."""

    def __init__(self, cfg: AudioTrainConfig, plan: _Plan, device: torch.device, checkpoint_path: Path) -> None:
        self.cfg, self.plan, self.device, self.checkpoint_path = cfg, plan, device, checkpoint_path
        # numpy randomness (epoch order, crops) goes through this generator, so only torch's global is seeded
        seed_everything(cfg.seed, python=False, numpy=False)
        self.rng = np.random.default_rng(cfg.seed)
        self.model = create_audio_cnn(n_classes=len(plan.head), config=cfg.model).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.train_clips = np.asarray(plan.train_idx, dtype=np.int64)

    def restore(self, payload: dict, state: dict) -> None:
        """Weights, optimiser and random streams as they were after the saved epoch."""
        self.model.load_state_dict(payload["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        if self.device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.rng.bit_generator.state = state["numpy_rng"]

    def train_epoch(self, source: SpectrogramSource, y_train: torch.Tensor, epoch: int) -> dict:
        """One pass over the training clips in a fresh random order; the epoch's mean loss and accuracy."""
        cfg, model, device = self.cfg, self.model, self.device
        model.train()
        n = len(self.train_clips)
        perm = self.rng.permutation(n)
        loss_sum, correct = 0.0, 0
        n_batches = (n + cfg.batch_size - 1) // cfg.batch_size
        desc = f"audio CNN epoch {epoch + 1}/{cfg.epochs}"
        bar = tqdm(total=n_batches, desc=desc, disable=not cfg.progress, leave=False)
        batches = clip_batches(source, self.train_clips[perm], cfg.batch_size, cfg.frames, self.rng)
        for b, x in enumerate(batches):
            sel = perm[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            x = to_device(x, device)  # (B, n_mels, frames); pinned, non-blocking on CUDA
            target = y_train[torch.from_numpy(sel)].to(device)  # (B,)
            logits = model(x)  # (B, n_seen)
            loss = nn.functional.cross_entropy(logits, target)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            loss_value = loss.item()
            loss_sum += loss_value * len(sel)
            correct += int((logits.detach().argmax(1) == target).sum())
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.3f}")
        bar.close()
        return {"epoch": epoch + 1, "loss": loss_sum / n, "acc": correct / n}

    def save(self, epochs_done: int, history: list[dict]) -> None:
        """The checkpoint after `epochs_done` epochs, with everything a resumed run needs to continue identically."""
        state = {
            "epoch": epochs_done,
            "optimizer": self.optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": self.rng.bit_generator.state,
            "history": history,
            "fingerprint": self.plan.fingerprint,
            "train_config": self.cfg.to_dict(),
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        extra = {"train_state": state, "n_train_clips": len(self.train_clips), "n_val_clips": len(self.plan.val_idx),
                 "numeric_environment": numeric_environment()}
        save_checkpoint(self.checkpoint_path, self.model, self.cfg.model, self.plan.head, extra)


def _record_text(record: dict) -> str:
    return " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items())


def train_audio_cnn(
    specs: Sequence[np.ndarray] | SpectrogramSource,
    labels: Sequence[str],
    *,
    classes: ClassTable,
    splits: Sequence[str],
    cfg: AudioTrainConfig | None = None,
    checkpoint_path: str | os.PathLike,
    log: Callable[[str], None] = print,
) -> dict:
    """Train (or resume, or recognise as finished) the seen-class audio CNN; returns history and epochs run.

    specs[i] is a log-mel spectrogram (n_mels, frames_i) of clip i, labels[i] its class name
    and splits[i] its split; clips outside seen-class `trn` are left out here. `specs` is either a
    sequence of arrays or a `SpectrogramSource` such as the on-disk `LogMelStore`, which keeps memory
    at a few batches whatever the number of clips; both give the same weights for the same seed.
    """
    source = as_source(specs)
    cfg = cfg or AudioTrainConfig()
    plan = _plan(source, labels, splits, classes, cfg)
    device = resolve_device(cfg.device, option="audio CNN device")
    previous_threads = torch.get_num_threads()
    set_torch_threads(cfg.num_threads)
    try:
        return _train(source, splits, classes, cfg, plan, device, Path(checkpoint_path), log)
    finally:
        torch.set_num_threads(previous_threads)


def _train(source: SpectrogramSource, splits: Sequence[str], classes: ClassTable, cfg: AudioTrainConfig, plan: _Plan,
           device: torch.device, checkpoint_path: Path, log: Callable[[str], None]) -> dict:
    """The epochs still to run, each followed by its checkpoint."""
    run = _Run(cfg, plan, device, checkpoint_path)
    history: list[dict] = []
    start_epoch = 0
    saved = _saved_state(checkpoint_path, plan.fingerprint)
    if saved is not None:
        payload, state = saved
        start_epoch, history = int(state["epoch"]), list(state["history"])
        if start_epoch >= cfg.epochs:
            log(f"audio CNN: {checkpoint_path} already trained for {start_epoch} epoch(s); nothing to do")
            return {"history": history, "epochs_run": 0, "class_names": plan.head}
        run.restore(payload, state)
        log(f"audio CNN: resuming {checkpoint_path} after epoch {start_epoch} of {cfg.epochs}")

    y_train, y_val = _guarded_targets(plan, splits, classes)
    log(
        f"audio CNN: {len(plan.train_idx)} trn clips of {len(plan.head)} seen classes"
        f"{f', {len(plan.val_idx)} held out' if plan.val_idx else ''}; device {device}"
    )
    for epoch in range(start_epoch, cfg.epochs):
        record = run.train_epoch(source, y_train, epoch)
        if plan.val_idx:
            record.update(_evaluate(run.model, source, plan.val_idx, y_val, cfg, device))
        history.append(record)
        log(f"audio CNN {_record_text(record)}")
        run.save(epoch + 1, history)
    return {"history": history, "epochs_run": cfg.epochs - start_epoch, "class_names": plan.head}
