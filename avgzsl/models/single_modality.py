"""The single-modality and audio-video concatenation baselines of Table 1.
"""

from __future__ import annotations

import torch

from avgzsl.models.joint_embedding import JointEmbedding, embedding_distances
from avgzsl.models.layers import create_projection
from avgzsl.models.losses import (
    triplet,
)
from avgzsl.settings.experiment import LossConfig, ModelConfig


class SingleModalityNet(JointEmbedding):
    """The audio-only or video-only model of Table 1: one projection net, trained on one modality."""

    modality = ""

    def __init__(self, model_cfg: ModelConfig, loss_cfg: LossConfig):
        self.uses_audio, self.uses_video = self.modality == "audio", self.modality == "video"
        super().__init__(model_cfg, loss_cfg)

    def _embed(self, x_a, x_v):
        return self.embed_audio(x_a) if self.modality == "audio" else self.embed_video(x_v)

    def training_terms(self, batch: dict) -> dict[str, torch.Tensor]:
        z_p, z_q = self._embed(batch["xa"], batch["xv"]).chunk(2)
        t_p = self.embed_text(batch["xt"][: len(z_p)])
        c = self.loss_cfg
        return {"t" + self.modality[0]: triplet(t_p, z_p, z_q, margin=c.margin, kind=c.distance, eps=c.eps)}

    @torch.no_grad()
    def distances(self, x_a, x_v, has_a, has_v, x_text, *, fusion: str = "equal"):
        d = embedding_distances(self._embed(x_a, x_v), self.embed_text(x_text), self.loss_cfg.distance)
        return {self.modality: d, "attention": None}


class AudioOnlyNet(SingleModalityNet):
    label, modality, modalities, test_modalities = "audio only", "audio", ("audio",), ("audio",)


class VideoOnlyNet(SingleModalityNet):
    label, modality, modalities, test_modalities = "video only", "video", ("video",), ("video",)


class ConcatNet(JointEmbedding):
    """The audio-video concatenation model: one projection of [x_a, x_v]; both modalities needed."""

    label = "AV concat"
    test_modalities = ("both",)
    concat = True

    def __init__(self, model_cfg: ModelConfig, loss_cfg: LossConfig):
        super().__init__(model_cfg, loss_cfg)
        m = model_cfg
        self.av_proj = create_projection(
            in_dim=m.audio_dim + m.video_dim, hidden_dim=m.hidden_dim, out_dim=m.embed_dim, dropout=m.dropout,
            batch_norm=m.batch_norm, out_relu=m.embed_relu,
        )

    def embed_av(self, x_a, x_v):  # (B, Da), (B, Dv) -> (B, E)
        return self.av_proj(torch.cat([self.prep(x_a), self.prep(x_v)], dim=1))

    def training_terms(self, batch: dict) -> dict[str, torch.Tensor]:
        c = self.loss_cfg
        z_p, z_q = self.embed_av(batch["xa"], batch["xv"]).chunk(2)
        t_p = self.embed_text(batch["xt"][: len(z_p)])
        return {"tav": triplet(t_p, z_p, z_q, margin=c.margin, kind=c.distance, eps=c.eps)}

    @torch.no_grad()
    def distances(self, x_a, x_v, has_a, has_v, x_text, *, fusion: str = "equal"):
        # a missing modality stays a zero block (zero rows survive L2 normalisation as zeros)
        d = embedding_distances(self.embed_av(x_a, x_v), self.embed_text(x_text), self.loss_cfg.distance)
        return {"both": d, "attention": None}
