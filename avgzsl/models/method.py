"""The model interface: what a zero-shot method gives the pipeline, and the checks that name a method's mistakes.

A method is an `nn.Module` subclass of `ZSLMethod`. The pipeline builds it, trains it, scores it and reports it
through this contract only, so a method written outside the package runs on every dataset, under both
protocols, into every table and figure, exactly as the built-in ones do (docs/METHODS.md builds one).

Built from its config: `Method(model_cfg, loss_cfg)`. `model_cfg` is the experiment's `model:` section
    (`avgzsl.settings.experiment.ModelConfig`: feature sizes `audio_dim`, `video_dim`, `text_dim`, and the shared
    net settings); the method's own settings are `model.options` in the config, read into its `Options`
    dataclass (unknown keys and wrong types are errors naming the method) and kept as `self.options`.
    `loss_cfg` is the `loss:` section (margin, distance, ...), for methods that use it.

A training step: `training_terms(batch) -> {name: scalar tensor}`. The batch pairs B clips of a class p with B
    clips of other classes q (`avgzsl.training.train.PairBatcher`):
        xa (2B, audio_dim), xv (2B, video_dim)   rows 0..B-1 the p clips, rows B..2B-1 the q clips
        xt (2B, text_dim)                        each row's class word vector
        class_text (C_train, text_dim)           every training class's word vector
    The pipeline sums the terms, back-propagates and steps the optimiser; each term is logged by its name.

Scoring: `distances(x_a, x_v, has_a, has_v, x_text, *, fusion) -> {modality: (N, C) tensor}`, lower = closer.
    x_a (N, audio_dim), x_v (N, video_dim), has_a / has_v (N,) bool (a missing modality's rows are zeros),
    x_text (C, text_dim). It returns a distance matrix for each of `test_modalities` and may add "attention"
    (the (N,) weight of a learned fusion, or None). `fusion` asks for "equal" (the mean of audio and video
    distances), "sum" (AVCA's protocol) or "attention" (a learned weight); a method without such a choice
    may ignore it. S / U / HM, ZSL, calibration, retrieval mAP and the saved scores are all computed from
    these matrices, so nothing else is needed for evaluation.

Declared as class attributes:
    label             its name in tables and figures
    modalities        what a training clip must have ("audio", "video" or both)
    test_modalities   the rows it reports: any of "audio", "video", "both"
    presets           the presets (`official`, `paper`, `avca`, ...) it accepts; None: all
    learns_attention  whether `model.attention` (a learned per-clip fusion weight) applies to it
    Options           a dataclass of its own settings (`model.options`), or None
    sequence_inputs   whether it reads each clip's feature sequences (temporal features, sequence shards).
                      Then a training batch also holds `idx` (2B,), the batch rows' positions among the
                      training clips, `target` (2B,), each row's class as a row of `class_text`, and
                      `audio_seq`, `video_seq` (`avgzsl.formats.sequences.Sequences` of
                      those clips, on the training device), and `distances` gets a keyword `sequences`:
                      {"audio": Sequences, "video": Sequences} of the N scored clips.
    hop_options       {modality: Options field}: the settings that hold the seconds between a modality's
                      windows; training refuses values that disagree with the hop its sequence shards record.

Optional: `map_points(modality, x, x_text)` puts clips and classes in one space for the t-SNE figure;
`run_record()` adds settings to the run's record (AVCA: its `avca_scoring`).
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn as nn

from avgzsl.models.layers import InputNormalization
from avgzsl.settings.experiment import LossConfig, ModelConfig

TEST_MODALITIES = ("audio", "video", "both")


class MethodError(ValueError):
    """A method that breaks the interface; the message names the method, the call and what was expected."""


class ZSLMethod(InputNormalization, nn.Module):
    """Base of every method; see the module docstring for the contract.

    `self.prep(x)` L2-normalises a batch of input rows when `model.normalize_inputs` is on (the trainer normalises
    the whole split once and makes `prep` pass rows through while it trains); call it on every input.
    """

    label: str = ""
    modalities: tuple[str, ...] = ("audio", "video")
    test_modalities: tuple[str, ...] = TEST_MODALITIES
    presets: tuple[str, ...] | None = None
    learns_attention: bool = False
    Options: type | None = None
    sequence_inputs: bool = False
    hop_options: dict[str, str] = {}

    def __init__(self, model_cfg: ModelConfig, loss_cfg: LossConfig):
        super().__init__()
        self.model_cfg, self.loss_cfg = model_cfg, loss_cfg
        self.options = parse_options(type(self), model_cfg.options)

    def training_terms(self, batch: dict) -> dict[str, torch.Tensor]:
        raise NotImplementedError(f"{method_name(type(self))} defines no training_terms(batch)")

    def distances(self, x_a, x_v, has_a, has_v, x_text, *, fusion: str = "equal") -> dict[str, torch.Tensor]:
        raise NotImplementedError(f"{method_name(type(self))} defines no distances(...)")

    def run_record(self) -> dict:
        """Optional: settings a run's record (run_info, metrics.json) should carry, e.g. how rows were scored."""
        return {}

    def map_points(self, modality: str, x: torch.Tensor, x_text: torch.Tensor):
        """Optional, for the t-SNE figure: one modality's clips (N, D) and the classes' word vectors (C, Dt) as
        points of one space where distance is what `distances` measures: ((N, E), (C, E)). None: no such space
        for this modality (the figure leaves the method out)."""
        return None


def check_window_hops(method: type, options, hops: dict[str, float]) -> None:
    """A method's window-time settings (`hop_options`) against the hops its sequences record (NaN: unknown)."""
    for modality, field in method.hop_options.items():
        hop, value = hops.get(modality, math.nan), float(getattr(options, field))
        if math.isfinite(hop) and not math.isclose(value, hop, rel_tol=1e-6):
            raise MethodError(f"model.options.{field} is {value:g} s, but the {modality} sequences' windows are "
                              f"{hop:g} s apart: set it to {hop:g} (window times are {method_name(method)}'s "
                              "input)")


def method_name(cls: type) -> str:
    return getattr(cls, "label", "") or cls.__name__


def parse_options(cls: type, options: dict | None):
    """`model.options` read into the method's Options dataclass; a method without Options takes none."""
    options = dict(options or {})
    if cls.Options is None:
        if options:
            raise MethodError(f"{method_name(cls)} takes no model.options, got {sorted(options)}")
        return None
    valid = {f.name: f for f in dataclasses.fields(cls.Options)}
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise MethodError(f"{method_name(cls)}: unknown model.options {unknown}; valid: {sorted(valid)}")
    for key, value in options.items():
        expected = valid[key].type if isinstance(valid[key].type, type) else None
        default = getattr(cls.Options(), key)
        kind = expected or type(default)
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
            options[key] = value
        if kind in (int, float, bool, str) and type(value) is not kind:
            raise MethodError(f"{method_name(cls)}: model.options.{key} must be {kind.__name__}, got {value!r}")
    return cls.Options(**options)


def check_method_class(cls, kind: str) -> type:
    """A kind must name a ZSLMethod subclass that declares what the pipeline reads."""
    if not (isinstance(cls, type) and issubclass(cls, ZSLMethod)):
        raise MethodError(f"model.kind {kind!r} names {cls!r}, not a subclass of avgzsl.models.method.ZSLMethod")
    if not set(cls.modalities) or not set(cls.modalities) <= {"audio", "video"}:
        raise MethodError(f"{method_name(cls)}: modalities must be audio and/or video, got {cls.modalities!r}")
    if not set(cls.test_modalities) or not set(cls.test_modalities) <= set(TEST_MODALITIES):
        raise MethodError(f"{method_name(cls)}: test_modalities must be among {TEST_MODALITIES}, "
                          f"got {cls.test_modalities!r}")
    if cls.Options is not None and not dataclasses.is_dataclass(cls.Options):
        raise MethodError(f"{method_name(cls)}: Options must be a dataclass")
    return cls


def check_terms(method: nn.Module, terms) -> dict[str, torch.Tensor]:
    """training_terms' result: a non-empty dict of scalar tensors, named (finiteness: `check_finite_terms`)."""
    name = method_name(type(method))
    if not isinstance(terms, dict) or not terms:
        raise MethodError(f"{name}.training_terms(batch) returned {type(terms).__name__}; expected a non-empty "
                          "dict {{name: scalar tensor}}")
    for key, value in terms.items():
        if not isinstance(value, torch.Tensor) or value.dim() != 0:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise MethodError(f"{name}.training_terms(batch)[{key!r}] is {shape}; expected a scalar tensor")
    return terms


def check_finite_terms(method: nn.Module, values: dict[str, float], step: str, hint: str = "") -> None:
    """A NaN or infinite loss term stops training with the method's and the term's name (and `hint`, what
    the trainer knows that may help)."""
    bad = {k: v for k, v in values.items() if not math.isfinite(v)}
    if bad:
        raise MethodError(f"{method_name(type(method))}.training_terms(batch) gave {bad} at {step}: the loss "
                          f"diverged or a term is undefined{'; ' + hint if hint else ''}")


def check_distances(method: nn.Module, out, n_clips: int, n_classes: int) -> dict:
    """distances' result: an (N, C) finite matrix for every declared test modality."""
    name = method_name(type(method))
    if not isinstance(out, dict):
        raise MethodError(f"{name}.distances(...) returned {type(out).__name__}; expected a dict "
                          "{{modality: (N, C) tensor}}")
    for modality in type(method).test_modalities:
        d = out.get(modality)
        if not isinstance(d, torch.Tensor) or tuple(d.shape) != (n_clips, n_classes):
            got = tuple(d.shape) if isinstance(d, torch.Tensor) else d
            raise MethodError(f"{name}.distances(...)[{modality!r}] is {got}; expected a ({n_clips}, "
                              f"{n_classes}) tensor (clips x classes)")
        if not torch.isfinite(d).all():
            raise MethodError(f"{name}.distances(...)[{modality!r}] holds NaN or inf")
    return out
