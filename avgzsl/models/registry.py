"""Model kinds by name: which class builds each, and which modalities it needs.

    avgzslnet      F_A, F_V, F_T, F_DEC; cross-modal decoder loss + composite triplet loss (models/avgzslnet.py)
    cjme           F_A, F_V, F_T; text-anchored triplets weighted per modality + audio-video pair loss (cjme.py)
    audio_only     F_A, F_T; text-anchored triplet on audio (single_modality.py)
    video_only     F_V, F_T; text-anchored triplet on video
    av_concat      F_AV on [audio, video], F_T; text-anchored triplet (needs both modalities)
    avca           AVCA-GZSL's cross-attention model (avca.py)

The `avca` preset switches on AVCA-GZSL's variant of the same nets (BatchNorm, a two-layer F_T, a regularised
and L2-normalised F_DEC; see `avgzsl.settings.experiment.avca_preset`).
"""

from __future__ import annotations

from avgzsl.models.avca import AVCA
from avgzsl.models.avgzslnet import AVGZSLNet
from avgzsl.models.cjme import CJME
from avgzsl.models.joint_embedding import JointEmbedding
from avgzsl.models.single_modality import ConcatNet, SingleModalityNet
from avgzsl.settings.experiment import LossConfig, ModelConfig


def create_model(model_cfg: ModelConfig, loss_cfg: LossConfig) -> JointEmbedding:
    kind = model_cfg.kind
    if kind == "avgzslnet":
        return AVGZSLNet(model_cfg, loss_cfg)
    if kind == "cjme":
        return CJME(model_cfg, loss_cfg)
    if kind in ("audio_only", "video_only"):
        return SingleModalityNet(model_cfg, loss_cfg, kind.split("_")[0])
    if kind == "av_concat":
        return ConcatNet(model_cfg, loss_cfg)
    if kind == "avca":
        return AVCA(model_cfg, loss_cfg)
    raise ValueError(f"unknown model kind {kind!r}")


def required_modalities(kind: str) -> tuple[str, ...]:
    """Modalities a training clip must have for this model."""
    return {"audio_only": ("audio",), "video_only": ("video",)}.get(kind, ("audio", "video"))
