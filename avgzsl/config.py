"""Dataclass configs for the model, its losses and training, and the two presets.

`official` follows the authors' released training code, `paper` the equations as
printed (REFERENCE.md §2). They differ only in the loss: the distance inside every
triplet (Euclidean vs MSE), whether the composite triplet is mirrored (8 terms
with q also taken as the positive class, vs the paper's 4 p-anchored terms), and the
1e-6 that torch.nn.TripletMarginLoss adds inside each distance (official only).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

MODEL_KINDS = ("avgzslnet", "cjme", "audio_only", "video_only", "av_concat")
DISTANCES = ("euclidean", "mse")
LOSS_TERMS = ("rec", "cta", "ctv", "ta", "at", "tv", "vt")
PRESETS = ("official", "paper")
PROTOCOLS = ("paper", "avca")


@dataclass
class ModelConfig:
    kind: str = "avgzslnet"  # one of MODEL_KINDS
    audio_dim: int = 1024
    video_dim: int = 1024
    text_dim: int = 300
    hidden_dim: int = 256  # F_A / F_V: in -> hidden -> embed
    embed_dim: int = 64
    decoder_hidden_dim: int = 128  # F_DEC: embed -> hidden -> text_dim
    dropout: float = 0.5
    attention: bool = False  # learn per-clip audio/video weights (CJME's attention)
    normalize_inputs: bool = True  # L2-normalise audio, video and text rows


@dataclass
class LossConfig:
    distance: str = "euclidean"  # one of DISTANCES
    mirrored: bool = True  # composite triplet with 8 terms (official) instead of 4 (paper)
    margin: float = 1.0
    # torch.nn.TripletMarginLoss (the released code's triplet) measures |anchor - x + eps| with eps = 1e-6;
    # the paper prints no eps (the `paper` preset sets 0)
    eps: float = 1e-6
    # each of the paper's terms can be switched off for Tables 3 and 4
    rec: bool = True
    cta: bool = True
    ctv: bool = True
    ta: bool = True
    at: bool = True
    tv: bool = True
    vt: bool = True

    def enabled_terms(self) -> list[str]:
        return [t for t in LOSS_TERMS if getattr(self, t)]


@dataclass
class TrainConfig:
    epochs: int = 200
    batch_size: int = 4096
    lr: float = 0.3
    momentum: float = 0.9
    milestones: list[int] = field(default_factory=lambda: [75, 125, 175])
    gamma: float = 0.1
    seed: int = 0
    device: str = "auto"
    select_epoch: bool = True  # keep the epoch with the best validation HM (needs a val split)
    select_modality: str = "both"  # validation HM of this test modality picks the epoch
    protocol: str = "paper"  # "avca": choose epoch + beta on val, retrain on trn+val, test
    num_threads: int | None = None  # torch intra-op threads; None leaves torch's default
    # a clip lacking a modality: "exclude" leaves it out of that modality's row, "other_modality" scores it by
    # the modality it has (avgzsl.metrics.MISSING_MODALITY); applies to epoch selection and to the metrics
    missing_modality: str = "exclude"


@dataclass
class ExperimentConfig:
    name: str = "avgzslnet"
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def dump(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def from_dict(cls, data: dict) -> "ExperimentConfig":
        return build_experiment(
            name=data.get("name", "avgzslnet"),
            model=data.get("model", {}),
            loss=data.get("loss", {}),
            train=data.get("train", {}),
        )


def dataclass_from_dict(cls, data: dict):
    """Build a config dataclass from a dict; unknown keys are errors that list the valid ones."""
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - valid
    if unknown:
        raise ValueError(f"unknown {cls.__name__} setting(s) {sorted(unknown)}; valid: {sorted(valid)}")
    return cls(**data)


def _apply(obj, overrides: dict, section: str):
    valid = {f.name for f in dataclasses.fields(obj)}
    for key, value in overrides.items():
        if key not in valid:
            raise ValueError(f"unknown {section} setting {key!r}; valid: {sorted(valid)}")
        setattr(obj, key, value)
    return obj


def validate(cfg: ExperimentConfig) -> ExperimentConfig:
    if cfg.model.kind not in MODEL_KINDS:
        raise ValueError(f"model.kind {cfg.model.kind!r} is not one of {MODEL_KINDS}")
    if cfg.loss.distance not in DISTANCES:
        raise ValueError(f"loss.distance {cfg.loss.distance!r} is not one of {DISTANCES}")
    if cfg.train.protocol not in PROTOCOLS:
        raise ValueError(f"train.protocol {cfg.train.protocol!r} is not one of {PROTOCOLS}")
    if cfg.train.select_modality not in ("audio", "video", "both"):
        raise ValueError(f"train.select_modality {cfg.train.select_modality!r} is not audio, video or both")
    if cfg.train.missing_modality not in ("exclude", "other_modality"):
        raise ValueError(f"train.missing_modality {cfg.train.missing_modality!r} is not exclude or other_modality")
    if cfg.model.attention and cfg.model.kind not in ("avgzslnet", "cjme"):
        raise ValueError(f"model.attention is only defined for avgzslnet and cjme, not {cfg.model.kind!r}")
    for name, value in (("epochs", cfg.train.epochs), ("batch_size", cfg.train.batch_size)):
        if int(value) < 1:
            raise ValueError(f"train.{name} must be >= 1, got {value}")
    if cfg.loss.eps < 0:
        raise ValueError(f"loss.eps must be >= 0, got {cfg.loss.eps}")
    if cfg.train.lr <= 0:
        raise ValueError(f"train.lr must be > 0, got {cfg.train.lr}")
    return cfg


def preset(name: str) -> ExperimentConfig:
    """The `official` or `paper` setting of every hyperparameter."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid: {PRESETS}")
    cfg = ExperimentConfig()
    if name == "paper":
        cfg.loss.distance = "mse"
        cfg.loss.mirrored = False
        cfg.loss.eps = 0.0
    return cfg


def build_experiment(
    *, name: str = "avgzslnet", preset_name: str = "official", model: dict | None = None,
    loss: dict | None = None, train: dict | None = None,
) -> ExperimentConfig:
    """A preset with overrides applied section by section; unknown keys are errors."""
    cfg = preset(preset_name)
    cfg.name = name
    _apply(cfg.model, model or {}, "model")
    _apply(cfg.loss, loss or {}, "loss")
    _apply(cfg.train, train or {}, "train")
    return validate(cfg)
