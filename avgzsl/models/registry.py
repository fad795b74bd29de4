"""Methods by name: the built-in ones, those installed under the `avgzsl.methods` entry point, and a user's class
named as `package.module:Class`.

    avgzslnet      F_A, F_V, F_T, F_DEC; cross-modal decoder loss + composite triplet loss (models/avgzslnet.py)
    cjme           F_A, F_V, F_T; text-anchored triplets weighted per modality + audio-video pair loss (cjme.py)
    audio_only     F_A, F_T; text-anchored triplet on audio (single_modality.py)
    video_only     F_V, F_T; text-anchored triplet on video
    av_concat      F_AV on [audio, video], F_T; text-anchored triplet (needs both modalities)
    avca           AVCA-GZSL's cross-attention model (avca.py)
    tcaf           TCaF's temporal cross-attention over feature sequences (tcaf.py; needs sequence shards)

The `avca` preset switches on AVCA-GZSL's variant of the same nets (BatchNorm, a two-layer F_T, a regularised
and L2-normalised F_DEC; see `avgzsl.settings.experiment.avca_preset`).

Importing a module runs its code, so a kind read from a file made elsewhere (a checkpoint's stored config) is
resolved only among the built-in and installed methods, or when the user names the same kind
(`trusted=`): a checkpoint can never make the pipeline import a module of its choosing.
"""

from __future__ import annotations

import importlib
import importlib.util
from importlib.metadata import entry_points
from pathlib import Path

from avgzsl.models.avca import AVCA
from avgzsl.models.avgzslnet import AVGZSLNet
from avgzsl.models.cjme import CJME
from avgzsl.models.method import MethodError, ZSLMethod, check_method_class, method_name
from avgzsl.models.single_modality import AudioOnlyNet, ConcatNet, VideoOnlyNet
from avgzsl.models.tcaf import TCaF
from avgzsl.settings.experiment import METHOD_ENTRY_POINTS as ENTRY_POINT_GROUP
from avgzsl.settings.experiment import LossConfig, ModelConfig, import_class_path, is_class_path

BUILTIN_METHODS: dict[str, type[ZSLMethod]] = {
    "avgzslnet": AVGZSLNet, "cjme": CJME, "audio_only": AudioOnlyNet, "video_only": VideoOnlyNet,
    "av_concat": ConcatNet, "avca": AVCA, "tcaf": TCaF,
}


def _installed() -> dict:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def method_class(kind: str, *, trusted: str | None = None) -> type[ZSLMethod]:
    """The class a `model.kind` names. `trusted`: the kind the user named, when `kind` comes from a file."""
    if kind in BUILTIN_METHODS:
        return BUILTIN_METHODS[kind]
    installed = _installed()
    if kind in installed:
        return check_method_class(installed[kind].load(), kind)
    if not is_class_path(kind):
        raise MethodError(f"unknown model.kind {kind!r}: not one of {sorted(BUILTIN_METHODS)}, not an installed "
                          f"{ENTRY_POINT_GROUP} entry point, nor a 'package.module:Class' path")
    if trusted is not None and trusted != kind:
        raise MethodError(f"model.kind {kind!r} is code outside avgzsl, named by a file; name it yourself to run "
                          f"it (the CLI's --method {kind})")
    try:
        cls = import_class_path(kind, f"model.kind {kind!r}")
    except ValueError as err:
        raise MethodError(str(err)) from err
    if cls is None:
        module_name, _, attr = kind.partition(":")
        raise MethodError(f"model.kind {kind!r}: module {module_name!r} has no {attr!r}")
    return check_method_class(cls, kind)


def create_model(model_cfg: ModelConfig, loss_cfg: LossConfig, *, trusted: str | None = None) -> ZSLMethod:
    cls = method_class(model_cfg.kind, trusted=trusted)
    if model_cfg.attention and not cls.learns_attention:
        raise MethodError(f"model.attention: {method_name(cls)} learns no attention (kind {model_cfg.kind!r})")
    model = cls(model_cfg, loss_cfg)
    if not isinstance(model, ZSLMethod):
        raise MethodError(f"{method_name(cls)}(model_cfg, loss_cfg) did not build a ZSLMethod")
    return model


def required_modalities(kind: str, *, trusted: str | None = None) -> tuple[str, ...]:
    """Modalities a training clip must have for this method."""
    return tuple(method_class(kind, trusted=trusted).modalities)


def method_label(kind: str) -> str:
    """The method's name in tables and figures."""
    return method_name(method_class(kind))


def method_source(kind: str) -> tuple[str, Path] | None:
    """(module name, file) of a method outside the package, for a run's code provenance; found without importing
    it for a `package.module:Class` kind. None for a built-in kind."""
    if kind in BUILTIN_METHODS:
        return None
    installed = _installed()
    module_name = installed[kind].module if kind in installed else kind.partition(":")[0]
    spec = importlib.util.find_spec(module_name)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise MethodError(f"model.kind {kind!r}: no Python source file for {module_name!r} on the path")
    return module_name, Path(spec.origin)
