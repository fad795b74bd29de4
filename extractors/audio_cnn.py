"""The paper's audio network: a VGG-like CNN on log-mel spectrograms (Hershey et al. 2017).

Paper §4.2 trains it on the AudioSetZSL train spectrograms and takes the audio
feature "after the seventh convolution layer ... a 1024 dimension vector by
averaging". The pretrained audio networks (VGGish, YAMNet, PANNs) all download
their weights at run time, so the pipeline trains it (`extractors/audio_train.py`) and this module holds
the network, its checkpoint format and the batch embedding function the shard
extraction job calls.

Checkpoint (one `torch.save` dict, written atomically):

    format="avgzsl-audio-cnn", format_version=1,
    config      AudioCNNConfig as a dict
    class_names the classifier head's classes, in output order (seen classes only)
    state_dict  model weights
    extra       free-form dict (training state, history, data fingerprint)
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from avgzsl_extractors import windows
from avgzsl_extractors.precision import autocast, check_autocast, to_device
from torch import nn

from avgzsl.formats.torch_files import TorchFileError, load_torch_file, save_torch_file
from avgzsl.runtime.device import resolve_device
from avgzsl.settings.experiment import dataclass_from_dict

CHECKPOINT_FORMAT = "avgzsl-audio-cnn"
CHECKPOINT_VERSION = 1


class AudioCheckpointError(TorchFileError):
    """A file that is not a usable audio-CNN checkpoint; the message names the file."""


@dataclass
class AudioCNNConfig:
    n_mels: int = 64
    # seven 3x3 convs as in the paper; the last one's width is the feature dimension
    channels: tuple[int, ...] = (64, 128, 256, 256, 512, 512, 1024)
    # VGG layout: a 2x2 max-pool closes each block (conv1 | conv2 | conv3-4 | conv5-6 | conv7)
    pool_after: tuple[int, ...] = (0, 1, 3, 5)
    dropout: float = 0.5
    # log-mel in dB sits far from zero and its scale depends on the front end's reference,
    # so a learnt per-input normalisation spares every caller from standardising first
    input_norm: bool = True

    def __post_init__(self) -> None:
        self.channels = tuple(int(c) for c in self.channels)
        self.pool_after = tuple(int(i) for i in self.pool_after)
        if not self.channels or min(self.channels) < 1:
            raise ValueError(f"channels must be positive widths, got {self.channels}")
        bad = [i for i in self.pool_after if not 0 <= i < len(self.channels)]
        if bad:
            raise ValueError(f"pool_after indices {bad} outside the {len(self.channels)} conv layers")
        if self.n_mels < 1:
            raise ValueError(f"n_mels must be >= 1, got {self.n_mels}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def embed_dim(self) -> int:
        return self.channels[-1]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "AudioCNNConfig":
        return dataclass_from_dict(cls, data)


class AudioCNN(nn.Module):
    def __init__(self, n_classes: int, config: AudioCNNConfig) -> None:
        super().__init__()
        self.config = config
        self.input_norm = nn.BatchNorm2d(1) if config.input_norm else nn.Identity()
        layers: list[nn.Module] = []
        in_ch = 1
        for i, out_ch in enumerate(config.channels):
            # bias is redundant in front of BatchNorm
            layers += [
                nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False),
                nn.BatchNorm2d(out_ch),
                nn.ReLU(inplace=True),
            ]
            if i in config.pool_after and i != len(config.channels) - 1:
                # ceil_mode keeps clips shorter than 2**pools frames valid instead of shrinking to zero
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.embed_dim, n_classes)

    @property
    def embed_dim(self) -> int:
        return self.config.embed_dim

    @property
    def n_classes(self) -> int:
        return self.classifier.out_features

    @property
    def time_pools(self) -> int:
        """2x poolings along time between the log-mel and the last conv's map."""
        return windows.time_pools(len(self.config.channels), self.config.pool_after)

    def feature_map(self, spec: torch.Tensor) -> torch.Tensor:
        """(B, n_mels, frames) log-mel -> (B, embed_dim, n_mels / 16, frames / 16) conv-7 activations (4 pools)."""
        if spec.ndim != 3 or spec.shape[1] != self.config.n_mels:
            raise ValueError(
                f"expected spectrograms (B, n_mels={self.config.n_mels}, frames), got {tuple(spec.shape)}"
            )
        x = spec.unsqueeze(1)  # (B, 1, n_mels, frames)
        return self.features(self.input_norm(x))

    def embed(self, spec: torch.Tensor) -> torch.Tensor:
        """(B, n_mels, frames) log-mel -> (B, embed_dim): conv-7 activations averaged over freq and time."""
        return self.feature_map(spec).mean(dim=(2, 3))  # (B, embed_dim)

    def embed_with_columns(self, spec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`embed` and, from the same pass, its pre-average vectors: the map averaged over frequency only,
        (B, embed_dim, columns), one column per 2^pools log-mel frames. `embed` is their mean over columns."""
        x = self.feature_map(spec)
        return x.mean(dim=(2, 3)), x.mean(dim=2)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.embed(spec)))  # (B, n_classes)


def create_audio_cnn(*, n_classes: int, config: AudioCNNConfig | None = None) -> AudioCNN:
    """The paper's audio CNN with a classifier head over `n_classes` (the seen classes when trained here)."""
    if n_classes < 1:
        raise ValueError(f"n_classes must be >= 1, got {n_classes}")
    return AudioCNN(n_classes, config or AudioCNNConfig())


def save_checkpoint(
    path: str | os.PathLike,
    model: AudioCNN,
    config: AudioCNNConfig,
    class_names: list[str],
    extra: dict | None = None,
) -> Path:
    """Write the checkpoint to a temporary name and rename it, so a kill mid-write leaves the old one intact."""
    path = Path(path)
    class_names = [str(c) for c in class_names]
    if len(class_names) != model.n_classes:
        raise ValueError(f"{len(class_names)} class names for a head with {model.n_classes} outputs")
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_VERSION,
        "config": config.to_dict(),
        "class_names": class_names,
        # CPU copies so a checkpoint written on a GPU loads anywhere
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": extra or {},
    }
    return save_torch_file(payload, path)


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The raw checkpoint dict after format checks (training code needs `extra`, not a model)."""
    path = Path(path)
    payload = load_torch_file(path, what="an audio CNN checkpoint", error=AudioCheckpointError)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise AudioCheckpointError(f"{path}: not an {CHECKPOINT_FORMAT} checkpoint")
    version = payload.get("format_version")
    if version != CHECKPOINT_VERSION:
        raise AudioCheckpointError(
            f"{path}: checkpoint format_version {version}, this reader knows {CHECKPOINT_VERSION}"
        )
    missing = {"config", "class_names", "state_dict", "extra"} - set(payload)
    if missing:
        raise AudioCheckpointError(f"{path}: checkpoint lacks {sorted(missing)}")
    return payload


def load_audio_cnn(path: str | os.PathLike, device: str | torch.device = "auto") -> tuple[AudioCNN, dict]:
    """Rebuild the trained network in eval mode; meta holds `config`, `class_names` and `extra`."""
    payload = read_checkpoint(path)
    try:
        config = AudioCNNConfig.from_dict(payload["config"])
    except (TypeError, ValueError) as err:
        raise AudioCheckpointError(f"{path}: bad model config in checkpoint ({err})") from err
    class_names = list(payload["class_names"])
    model = create_audio_cnn(n_classes=len(class_names), config=config)
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise AudioCheckpointError(f"{path}: weights do not fit the stored config ({err})") from err
    model.to(resolve_device(device)).eval()
    return model, {"config": config, "class_names": class_names, "extra": payload["extra"]}


def make_embed_fn(
    model: AudioCNN, device: str | torch.device = "auto", batch_size: int = 32, autocast_mode: str = "none"
) -> Callable[[np.ndarray], np.ndarray]:
    """A numpy-in, numpy-out feature function for the shard job: (B, n_mels, frames) -> (B, embed_dim) float32.

    `autocast_mode` ("none", "bf16", "fp16") runs the network under torch.autocast (extractors/precision.py).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    check_autocast(autocast_mode)
    device = resolve_device(device)
    model = model.to(device).eval()

    def embed_fn(batch: np.ndarray) -> np.ndarray:
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim != 3:
            raise ValueError(f"expected a batch (B, n_mels, frames), got shape {batch.shape}")
        out = np.empty((batch.shape[0], model.embed_dim), dtype=np.float32)
        with torch.inference_mode(), autocast(autocast_mode, device):
            for start in range(0, batch.shape[0], batch_size):
                chunk = to_device(torch.from_numpy(batch[start : start + batch_size]), device)
                out[start : start + len(chunk)] = model.embed(chunk).float().cpu().numpy()
        return out

    return embed_fn


@dataclass(frozen=True)
class ColumnWindows:
    """Audio sequence windows in columns of the CNN's last map: `window` columns every `hop`, tail as video's."""

    window: int
    hop: int
    tail: str = "aligned"

    def __post_init__(self) -> None:
        windows.window_starts(1, self.window, self.hop, self.tail)  # the same checks, once, at construction

    def pool(self, columns: np.ndarray) -> np.ndarray:
        """(embed_dim, C) columns of one clip -> (W, embed_dim): each window's columns averaged in float64."""
        starts = windows.window_starts(columns.shape[1], self.window, self.hop, self.tail)
        cols = columns.astype(np.float64)
        return np.stack([cols[:, s:s + self.window].mean(axis=1) for s in starts]).astype(np.float32)


def make_sequence_embed_fn(
    model: AudioCNN, windows_cfg: ColumnWindows, device: str | torch.device = "auto", batch_size: int = 32,
    autocast_mode: str = "none",
) -> Callable[[np.ndarray, list[int]], tuple[np.ndarray, list[np.ndarray]]]:
    """`make_embed_fn`'s features plus each clip's sequence, from one pass of the network.

    The function takes the batch (B, n_mels, frames) and each clip's own log-mel frames before it was
    wrapped to `frames` (`extractors.logmel.fixed_length`); the sequence pools only the columns those
    frames reach, so its length follows the clip's, while the averaged feature stays that of the whole
    (wrapped) spectrogram, computed exactly as `make_embed_fn` computes it.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    check_autocast(autocast_mode)
    device = resolve_device(device)
    model = model.to(device).eval()

    def embed_fn(batch: np.ndarray, clip_frames: list[int]) -> tuple[np.ndarray, list[np.ndarray]]:
        batch = np.asarray(batch, dtype=np.float32)
        if batch.ndim != 3 or len(clip_frames) != batch.shape[0]:
            raise ValueError(f"expected a batch (B, n_mels, frames) and B frame counts, got shape {batch.shape} "
                             f"and {len(clip_frames)} counts")
        out = np.empty((batch.shape[0], model.embed_dim), dtype=np.float32)
        sequences: list[np.ndarray] = []
        with torch.inference_mode(), autocast(autocast_mode, device):
            for start in range(0, batch.shape[0], batch_size):
                chunk = to_device(torch.from_numpy(batch[start : start + batch_size]), device)
                averaged, columns = model.embed_with_columns(chunk)
                out[start : start + len(chunk)] = averaged.float().cpu().numpy()
                columns = columns.float().cpu().numpy()  # (b, embed_dim, C)
                for cols, frames in zip(columns, clip_frames[start : start + batch_size]):
                    real = windows.pooled_length(min(int(frames), batch.shape[2]), model.time_pools)
                    sequences.append(windows_cfg.pool(cols[:, :real]))
        return out, sequences

    return embed_fn
