"""Dataclass configs for the model, its losses and training, and the three presets.

`official` follows the authors' released training code, `paper` the equations as
printed. They differ only in the loss: the distance inside every triplet (Euclidean
vs MSE), whether the composite triplet is mirrored (8 terms with q also taken as the
positive class, vs the paper's 4 p-anchored terms), and the 1e-6 that
torch.nn.TripletMarginLoss adds inside each distance (official only). `avca` is
AVCA-GZSL's re-implementation of AVGZSLNet and CJME as their run scripts configure it
(see `avca_preset`). docs/PRESETS.md tabulates where each departs from which source.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import re
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

from avgzsl.settings.tcaf_presets import TCAF_MODEL_PRESETS, tcaf_model_preset

MODEL_KINDS = ("avgzslnet", "cjme", "audio_only", "video_only", "av_concat", "avca", "tcaf")  # built in; others: registry
# a user's method: `package.module:Class` (avgzsl.models.registry resolves it)
CLASS_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*")
ENTRY_POINT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
METHOD_ENTRY_POINTS = "avgzsl.methods"  # the entry-point group installed methods register under
DISTANCES = ("euclidean", "mse")
LOSS_TERMS = ("rec", "cta", "ctv", "ta", "at", "tv", "vt")
# AVCA-GZSL's run scripts per benchmark and feature set (run_scripts/<DS>-GZSL/avca.sh, stage-1 lines 3-4 of
# VGGSound and ActivityNet, 2-3 of UCF; the stage-2 lines repeat them): encoder dropout (`--embedding_dropout`),
# projector dropout (`--decoder_dropout`), `--additional_dropout`, BatchNorm `--momentum`, batch size (`--bs`,
# default 256 src/args.py:136-141). Common to all: hidden sizes 512 / 512, depth 1, lr 1e-3, 500 batches,
# 50 epochs, `--additional_triplets_loss` with both pair weights 1, `--reg_loss`, `--lr_scheduler`.
AVCA_MODEL_SETTINGS = {
    ("vggsound", "main"): {"dropout": 0.0, "decoder_dropout": 0.0, "additional_dropout": 0.1, "bn_momentum": 0.1,
                           "batch_size": 64},
    ("vggsound", "cls"): {"dropout": 0.0, "decoder_dropout": 0.0, "additional_dropout": 0.0, "bn_momentum": 0.99,
                          "batch_size": 256},
    ("ucf", "main"): {"dropout": 0.2, "decoder_dropout": 0.3, "additional_dropout": 0.5, "bn_momentum": 0.1,
                      "batch_size": 256},
    ("ucf", "cls"): {"dropout": 0.2, "decoder_dropout": 0.3, "additional_dropout": 0.5, "bn_momentum": 0.99,
                     "batch_size": 256},
    ("activitynet", "main"): {"dropout": 0.2, "decoder_dropout": 0.2, "additional_dropout": 0.1,
                              "bn_momentum": 0.99, "batch_size": 256},
    ("activitynet", "cls"): {"dropout": 0.2, "decoder_dropout": 0.2, "additional_dropout": 0.1,
                             "bn_momentum": 0.99, "batch_size": 256},
}
AVCA_MODEL_PRESETS = tuple(f"avca-{ds}-{variant}" for ds, variant in AVCA_MODEL_SETTINGS)
PRESETS = ("official", "paper", "avca") + AVCA_MODEL_PRESETS + TCAF_MODEL_PRESETS
AVCA_SCORINGS = ("per_modality", "video_branch")
OPTIMIZERS = ("sgd", "adam")
LR_SCHEDULES = ("multistep", "plateau", "none")
PROTOCOLS = ("paper", "avca")
PRECISIONS = ("float32", "bfloat16")


@dataclass
class ModelConfig:
    kind: str = "avgzslnet"  # one of MODEL_KINDS, an installed `avgzsl.methods` entry point, or `module:Class`
    audio_dim: int = 1024
    video_dim: int = 1024
    text_dim: int = 300
    hidden_dim: int = 256  # F_A / F_V: in -> hidden -> embed
    embed_dim: int = 64
    decoder_hidden_dim: int = 128  # F_DEC: embed -> hidden -> text_dim
    dropout: float = 0.5
    attention: bool = False  # learn per-clip audio/video weights (CJME's attention)
    normalize_inputs: bool = True  # L2-normalise audio, video and text rows
    # AVCA-GZSL's variant of the nets (all off / zero in `official` and `paper`):
    batch_norm: bool = False  # BatchNorm1d after the hidden Linear of F_A, F_V (and F_T when it has one)
    text_hidden_dim: int = 0  # 0: F_T is one Linear; > 0: Linear -> [BN] -> ReLU -> Dropout -> Linear
    embed_relu: bool = False  # a ReLU after the last Linear of F_A, F_V, F_T (AVCA's CJME)
    decoder_batch_norm: bool = False  # BatchNorm1d after F_DEC's hidden Linear
    decoder_dropout: float = 0.0  # dropout after F_DEC's hidden ReLU
    normalize_decoder_outputs: bool = False  # L2-normalise F_DEC's reconstructions
    attention_test: str = "soft"  # "hard": w rounded to 0 / 1 at test (AVCA's CJME)
    # kind "avca" only (avgzsl/models/avca.py); hidden_dim / decoder_hidden_dim are its encoder / projector widths,
    # dropout / decoder_dropout their dropouts
    additional_dropout: float = 0.0  # dropout of the text projection, decoder and reconstruction nets
    bn_momentum: float = 0.1  # momentum of the encoders' and projectors' output BatchNorm (`--momentum`)
    attention_depth: int = 1  # cross-attention transformer layers (`--depth_transformer`)
    # per_modality: audio, video, both scored by their own embeddings; video_branch: AVCA-GZSL's test, the
    # video-branch scores reported as audio, video and both (their src/utils.py:196-205)
    avca_scoring: str = "per_modality"
    # true: AVCA's position embedding is trained, as the paper's learned embedding; false: AVCA-GZSL's code,
    # which leaves it out of its optimiser, so it keeps its random initial value (src/model_improvements.py:182,
    # 187-192)
    avca_train_position_embedding: bool = True
    # a method's own settings, read into its Options dataclass (avgzsl.models.method); built-ins take none
    options: dict = field(default_factory=dict)


@dataclass
class LossConfig:
    distance: str = "euclidean"  # one of DISTANCES
    mirrored: bool = True  # composite triplet with 8 terms (official) instead of 4 (paper)
    margin: float = 1.0
    # torch.nn.TripletMarginLoss (the released code's triplet) measures |anchor - x + eps| with eps = 1e-6;
    # the paper prints no eps (the `paper` preset sets 0)
    eps: float = 1e-6
    rec_distance: str = "mse"  # L_REC: "mse" (released code) or "euclidean" (AVCA: mean L2 distance)
    # CJME's attention (AVCA's code): "distance" = softmax(-d) entropies, "dot" = softmax(z . t) entropies
    attention_logits: str = "distance"
    # "per_clip": (1 - w_i) l_ta_i + w_i l_tv_i with w detached; "batch_mean": AVCA's
    # mean_i,j (1 - w_i) l_ta_j + w_j l_tv_j (a (B, 1) x (B,) broadcast), w not detached
    attention_weighting: str = "per_clip"
    # kind "avca" only: `--additional_triplets_loss` and `--reg_loss` (on in every AVCA run script)
    avca_additional_triplets: bool = True
    avca_reg_loss: bool = True
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
    batches_per_epoch: int = 0  # 0: ceil(training clips / batch size); AVCA draws a fixed number
    optimizer: str = "sgd"  # one of OPTIMIZERS
    lr: float = 0.3
    momentum: float = 0.9  # SGD only
    weight_decay: float = 0.0  # Adam only; AVCA's own optimiser uses 1e-5 (their src/model_improvements.py:192)
    lr_schedule: str = "multistep"  # one of LR_SCHEDULES; plateau steps on the validation HM that selects
    milestones: list[int] = field(default_factory=lambda: [75, 125, 175])
    gamma: float = 0.1  # multistep: factor at each milestone; plateau: factor after `patience` flat epochs
    patience: int = 3  # plateau only
    seed: int = 0
    device: str = "auto"
    select_epoch: bool = True  # keep the epoch with the best validation HM (needs a val split)
    select_modality: str = "both"  # validation HM of this test modality picks the epoch
    # "avca": AVCA-GZSL's protocol: epoch by calibrated val HM of "both" = d_a + d_v, retrain on trn+val for
    # that many epochs, one beta (mean of the audio, video and both val-best betas) for every test row
    protocol: str = "paper"
    num_threads: int | None = None  # torch intra-op threads; None leaves torch's default
    # a clip lacking a modality: "exclude" leaves it out of that modality's row, "other_modality" scores it by
    # the modality it has (avgzsl.evaluation.metrics.MISSING_MODALITY); applies to epoch selection and to the metrics
    missing_modality: str = "exclude"
    # "bfloat16": the training forward pass runs under torch.autocast (matrix products in bfloat16); weights,
    # optimiser, losses and every evaluation stay float32 (avgzsl.training.train.training_autocast)
    precision: str = "float32"
    # kinds "avca" and "tcaf" (TCaF's train.py:93 makes the same call). true: after every optimiser step,
    # AVCA-GZSL's `get_embeddings` call on the batch's positives in train mode (their src/train.py:110-111),
    # which moves BatchNorm running statistics a second time (avgzsl.models.avca.AVCA.extra_embedding_pass);
    # false (default): no such pass, as the paper
    avca_extra_embedding_pass: bool = False


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


def is_class_path(kind: str) -> bool:
    return isinstance(kind, str) and len(kind) <= 200 and CLASS_PATH.fullmatch(kind) is not None


def import_class_path(path: str, what: str):
    """The object a 'package.module:Class' path names (None when the module lacks it), imported on the user's word.

    `what` names the setting for the message, e.g. "model.kind 'pkg.mod:Cls'"; a module that cannot be imported
    is a ValueError saying how to make it importable.
    """
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"{what}: cannot import {module_name!r} ({err}); put its folder on PYTHONPATH or install "
                         "it") from err
    return getattr(module, attr, None)


def installed_methods() -> tuple[str, ...]:
    """Names of the methods installed packages register under the `avgzsl.methods` entry point."""
    return tuple(sorted(ep.name for ep in entry_points(group=METHOD_ENTRY_POINTS)))


def validate(cfg: ExperimentConfig) -> ExperimentConfig:
    kind = cfg.model.kind
    if not isinstance(kind, str) or not (kind in MODEL_KINDS or is_class_path(kind) or kind in installed_methods()):
        raise ValueError(f"model.kind {kind!r} is not one of {MODEL_KINDS}, an installed method's name, or a "
                         "'package.module:Class' path")
    if not isinstance(cfg.model.options, dict):
        raise ValueError(f"model.options must be a mapping of the method's own settings, got {cfg.model.options!r}")
    if cfg.loss.distance not in DISTANCES:
        raise ValueError(f"loss.distance {cfg.loss.distance!r} is not one of {DISTANCES}")
    if cfg.train.protocol not in PROTOCOLS:
        raise ValueError(f"train.protocol {cfg.train.protocol!r} is not one of {PROTOCOLS}")
    for section, key, valid in (
        (cfg.model, "avca_scoring", AVCA_SCORINGS), (cfg.train, "optimizer", OPTIMIZERS), (cfg.train, "lr_schedule", LR_SCHEDULES),
        (cfg.train, "precision", PRECISIONS),
        (cfg.loss, "rec_distance", DISTANCES), (cfg.loss, "attention_logits", ("distance", "dot")),
        (cfg.loss, "attention_weighting", ("per_clip", "batch_mean")), (cfg.model, "attention_test", ("soft", "hard")),
    ):
        if getattr(section, key) not in valid:
            name = "train" if section is cfg.train else "loss" if section is cfg.loss else "model"
            raise ValueError(f"{name}.{key} {getattr(section, key)!r} is not one of {valid}")
    if int(cfg.train.batches_per_epoch) < 0:
        raise ValueError(f"train.batches_per_epoch must be >= 0 (0: one pass), got {cfg.train.batches_per_epoch}")
    if cfg.train.select_modality not in ("audio", "video", "both"):
        raise ValueError(f"train.select_modality {cfg.train.select_modality!r} is not audio, video or both")
    if cfg.train.missing_modality not in ("exclude", "other_modality"):
        raise ValueError(f"train.missing_modality {cfg.train.missing_modality!r} is not exclude or other_modality")
    if cfg.train.avca_extra_embedding_pass and cfg.model.kind not in ("avca", "tcaf"):
        raise ValueError(f"train.avca_extra_embedding_pass is only defined for avca and tcaf, not {cfg.model.kind!r}")
    for name, value in (("epochs", cfg.train.epochs), ("batch_size", cfg.train.batch_size)):
        if int(value) < 1:
            raise ValueError(f"train.{name} must be >= 1, got {value}")
    if int(cfg.model.attention_depth) < 1:
        raise ValueError(f"model.attention_depth must be >= 1, got {cfg.model.attention_depth}")
    if cfg.loss.eps < 0:
        raise ValueError(f"loss.eps must be >= 0, got {cfg.loss.eps}")
    if cfg.train.lr <= 0:
        raise ValueError(f"train.lr must be > 0, got {cfg.train.lr}")
    return cfg


def preset(name: str, kind: str = "avgzslnet") -> ExperimentConfig:
    """The `official`, `paper` or `avca` setting of every hyperparameter (`avca` depends on the model kind)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid: {PRESETS}")
    cfg = ExperimentConfig()
    cfg.model.kind = kind
    if name == "paper":
        cfg.loss.distance = "mse"
        cfg.loss.mirrored = False
        cfg.loss.eps = 0.0
    if name == "avca":
        if kind == "avca":
            raise ValueError(f"model.kind avca takes its dataset's preset, one of {AVCA_MODEL_PRESETS}")
        avca_preset(cfg)
    if name in AVCA_MODEL_PRESETS:
        avca_model_preset(cfg, name)
    if name in TCAF_MODEL_PRESETS:
        tcaf_model_preset(cfg, name)
    return cfg


def avca_model_preset(cfg: ExperimentConfig, name: str) -> ExperimentConfig:
    """AVCA itself as run_scripts/<DS>-GZSL/avca.sh trains it: `avca-<dataset>-<main|cls>`.

    Shared with `avca_preset`: Adam lr 1e-3, ReduceLROnPlateau('max', patience 3) on the val HM (AVCA's own
    scheduler, src/model_improvements.py:194), 500 batches of class-balanced anchors an epoch, 50 epochs,
    no input normalisation, the avca protocol. AVCA's own: Adam weight decay 1e-5
    (src/model_improvements.py:187-192), encoder and projector hidden 512 (`--embeddings_hidden_size 512
    --decoder_hidden_size 512`), embedding 64 (src/utils_improvements.py:23), depth 1, the additional
    triplets and the regression loss on, and the per-dataset values of AVCA_MODEL_SETTINGS. The model kind
    other than avca gets the plain `avca` preset (their AVGZSLNet / CJME have no per-dataset scripts values).
    """
    avca_preset(cfg)
    if cfg.model.kind != "avca":
        return cfg
    ds, variant = name.removeprefix("avca-").rsplit("-", 1)
    values = AVCA_MODEL_SETTINGS[(ds, variant)]
    m, loss, t = cfg.model, cfg.loss, cfg.train
    m.hidden_dim, m.decoder_hidden_dim, m.embed_dim, m.attention_depth = 512, 512, 64, 1
    m.batch_norm, m.normalize_decoder_outputs = True, False
    m.dropout, m.decoder_dropout = values["dropout"], values["decoder_dropout"]
    m.additional_dropout, m.bn_momentum = values["additional_dropout"], values["bn_momentum"]
    loss.avca_additional_triplets, loss.avca_reg_loss, loss.margin = True, True, 1.0
    t.batch_size, t.weight_decay = values["batch_size"], 1e-5
    return cfg


def avca_preset(cfg: ExperimentConfig) -> ExperimentConfig:
    """AVCA-GZSL's AVGZSLNet and CJME, as its code (commit 2711aeb) and run scripts configure them.

    Run scripts (run_scripts/{UCF,ActivityNet,VGGSound}-GZSL/avgzslnet.sh and cjme.sh, line 2 of each):
    `--epochs 50 --lr 0.001 --n_batches 500 --lr_scheduler --decoder_use_bn --embedding_use_bn
    --normalize_decoder_outputs`, CJME adds `--cjme --dropout_baselines 0.2` (0.0 on VGGSound); every other
    setting is an argument default in src/args.py. Facts, by file and line:

    * optimiser Adam, lr 1e-3 (main.py:220, run scripts); `--lr_scheduler` -> ReduceLROnPlateau('max',
      patience=3), default factor 0.1 (main.py:222), stepped once an epoch on the val "both" HM
      (src/train.py:27-28, src/train.py:220-221);
    * batch size 256 (src/args.py:136), 500 batches an epoch (run scripts; sampler src/sampler.py:138-146),
      50 epochs; a batch draws anchors class-balanced with replacement (main.py:129-135 with alpha=1,
      src/sampler.py:58-80) and pairs each with a clip of a uniformly drawn other class
      (src/dataset.py:613-631): the same law as this project's class-pair sampler;
    * no input normalisation (`--norm_inputs` unset; AVGZSLNet never reads it);
    * AVGZSLNet: F_A, F_V = Linear(D, 1024) -> BatchNorm1d -> ReLU -> Dropout(0.8) -> Linear(1024, 64);
      F_T = Linear(300, 300) -> BatchNorm1d -> ReLU -> Dropout(0.8) -> Linear(300, 64)
      (src/model.py:277-316, EmbeddingNet src/model.py:335-352; hidden 1024 and dropout 0.8 are
      src/args.py:167,179); F_DEC = Linear(64, 64) -> BatchNorm1d -> ReLU -> Dropout(0.5) -> Linear(64, 300),
      outputs L2-normalised (src/model.py:318-326, 393-414; src/args.py:173,185). Each net is called on
      p and q separately (src/model.py:378-387), so BatchNorm statistics are per half batch;
    * AVGZSLNet loss (src/loss.py:43-135, `--distance_fn L2Loss` src/args.py:212): L_REC is the mean
      Euclidean distance of the three reconstructions to the class word vector (src/loss.py:91-95, 148-150),
      L_CTA, L_CTV and the four composite terms are nn.TripletMarginLoss(margin=1) (p=2, not mirrored);
    * CJME: the same nets without decoder, with a ReLU after the last Linear and Dropout(0.2)
      (EmbeddingNetCJME src/model.py:233-251, `--dropout_baselines`); attention sigmoid(Linear(BN([x_a, x_v])))
      (src/model.py:161-184); loss src/loss.py:4-37: triplets weighted by the attention with a (B, 1) x (B,)
      broadcast, MSE(a_p, v_p), and MSE(w, target) with the target from softmax(z . t) entropies (band 0.1)
      over the training classes' text embeddings (src/train.py:75-79); at test w is rounded to 0 / 1
      (src/model.py:177-182) and "both" = (1 - w) d_a + w d_v (src/utils.py:270-271);
    * protocol (`train.protocol: avca`): see avgzsl/evaluation/protocol.py.

    Not reproduced: the random streams (their draws come from numpy in DataLoader workers). The 1e-6 that
    nn.TripletMarginLoss adds inside the distance is kept (`loss.eps`, as in `official`); their L2Loss
    for L_REC has none.
    """
    m, loss, t = cfg.model, cfg.loss, cfg.train
    m.normalize_inputs = False
    m.hidden_dim, m.embed_dim = 1024, 64
    m.batch_norm, m.text_hidden_dim = True, 300
    m.decoder_hidden_dim, m.decoder_batch_norm, m.decoder_dropout = 64, True, 0.5
    m.normalize_decoder_outputs = True
    m.dropout = 0.8
    loss.distance, loss.mirrored, loss.margin, loss.rec_distance = "euclidean", False, 1.0, "euclidean"
    if m.kind == "cjme":
        m.dropout, m.embed_relu, m.attention, m.attention_test = 0.2, True, True, "hard"
        loss.attention_logits, loss.attention_weighting = "dot", "batch_mean"
    t.epochs, t.batch_size, t.batches_per_epoch = 50, 256, 500
    t.optimizer, t.lr, t.lr_schedule, t.gamma, t.patience = "adam", 1e-3, "plateau", 0.1, 3
    t.protocol = "avca"
    return cfg


def build_experiment(
    *, name: str = "avgzslnet", preset_name: str = "official", model: dict | None = None,
    loss: dict | None = None, train: dict | None = None,
) -> ExperimentConfig:
    """A preset with overrides applied section by section; unknown keys are errors."""
    cfg = preset(preset_name, (model or {}).get("kind", "avgzslnet"))
    cfg.name = name
    model = dict(model or {})
    options = model.pop("options", None)
    _apply(cfg.model, model, "model")
    if options is not None:  # a method's options add to (and override) those its preset sets
        cfg.model.options = {**cfg.model.options, **options} if isinstance(options, dict) else options
    _apply(cfg.loss, loss or {}, "loss")
    _apply(cfg.train, train or {}, "train")
    return validate(cfg)
