"""Synthetic features with learnable zero-shot structure, for tests and benchmarks.

Each class has a random text vector; a clip's audio and video features are fixed
random linear maps of its class vector plus noise. Because the same maps apply to
unseen classes, a model that learns the feature -> text relation on seen classes
transfers to unseen ones, which is what the end-to-end tests check.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from avgzsl.formats.feature_split import FeatureSplit
from avgzsl.formats.manifest import ClassTable


@dataclass
class SyntheticConfig:
    n_classes: int = 33
    n_seen: int = 23
    clips_per_class: dict | None = None  # split -> clips per class; default trn 40 / val 10 / tst 10
    audio_dim: int = 1024
    video_dim: int = 1024
    text_dim: int = 300
    latent_dim: int = 16  # class vectors live in a low-dimensional subspace, as word vectors roughly do
    noise: float = 0.5
    seed: int = 0


def synthetic_splits(cfg: SyntheticConfig | None = None) -> dict[str, FeatureSplit]:
    cfg = cfg or SyntheticConfig()
    rng = np.random.default_rng(cfg.seed)
    per_class = cfg.clips_per_class or {"trn": 40, "val": 10, "tst": 10}
    latent = rng.standard_normal((cfg.n_classes, cfg.latent_dim))  # (C, L)
    text = latent @ rng.standard_normal((cfg.latent_dim, cfg.text_dim))  # (C, Dt)
    to_audio = rng.standard_normal((cfg.latent_dim, cfg.audio_dim))
    to_video = rng.standard_normal((cfg.latent_dim, cfg.video_dim))
    names = [f"class{i:02d}" for i in range(cfg.n_classes)]
    classes = ClassTable(names=names, seen=np.arange(cfg.n_classes) < cfg.n_seen)
    splits = {}
    for split, n in per_class.items():
        labels = np.repeat(np.arange(cfg.n_classes), n)
        z = latent[labels] + cfg.noise * rng.standard_normal((len(labels), cfg.latent_dim))  # (N, L)
        audio = z @ to_audio + cfg.noise * rng.standard_normal((len(labels), cfg.audio_dim))
        video = z @ to_video + cfg.noise * rng.standard_normal((len(labels), cfg.video_dim))
        splits[split] = FeatureSplit(
            clip_ids=[f"{split}-{i:06d}" for i in range(len(labels))],
            audio=torch.from_numpy(audio.astype(np.float32)),
            video=torch.from_numpy(video.astype(np.float32)),
            has_audio=torch.ones(len(labels), dtype=torch.bool),
            has_video=torch.ones(len(labels), dtype=torch.bool),
            labels=torch.from_numpy(labels.astype(np.int64)),
            text=torch.from_numpy(text.astype(np.float32)),
            classes=classes,
        )
    return splits
