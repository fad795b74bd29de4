"""The joint audio / video / text embedding every deep model of Table 1 shares.

Every model maps features to a shared embedding space and classifies by the nearest class-text embedding; the
models differ in which projection nets exist and in the training loss. AVGZSLNet and CJME optionally learn
CJME's attention, a per-clip weight w that mixes the audio and video distances at test time as
(1 - w) d_a + w d_v.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from avgzsl.models.layers import blockwise_forward, create_projection
from avgzsl.models.losses import (
    attention_target,
    full_precision,
)
from avgzsl.models.method import ZSLMethod
from avgzsl.settings.experiment import LossConfig, ModelConfig


def create_text_projection(m: ModelConfig) -> nn.Module:
    """F_T: a single linear layer (released code), or AVCA's two-layer net when `text_hidden_dim` > 0."""
    if m.text_hidden_dim <= 0:
        return nn.Linear(m.text_dim, m.embed_dim)
    return create_projection(
        in_dim=m.text_dim, hidden_dim=m.text_hidden_dim, out_dim=m.embed_dim, dropout=m.dropout,
        batch_norm=m.batch_norm, out_relu=m.embed_relu,
    )


class ModalityAttention(nn.Module):
    """CJME's attention: w = sigmoid(Linear(BatchNorm([x_a, x_v]))), the weight of the video distance."""

    def __init__(self, *, audio_dim: int, video_dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.BatchNorm1d(audio_dim + video_dim), nn.Linear(audio_dim + video_dim, 1))

    def forward(self, x_a: torch.Tensor, x_v: torch.Tensor) -> torch.Tensor:  # (B, Da), (B, Dv) -> (B,)
        return torch.sigmoid(self.net(torch.cat([x_a, x_v], dim=1))).squeeze(1)


def embedding_distances(z: torch.Tensor, t: torch.Tensor, kind: str) -> torch.Tensor:
    """(N, E) clip embeddings x (C, E) class embeddings -> (N, C) distances under the training distance."""
    if kind == "euclidean":
        return torch.cdist(z, t)
    return torch.cdist(z, t) ** 2 / z.shape[1]  # mse


class JointEmbedding(ZSLMethod):
    """Shared plumbing: input normalisation, text projection, test-time distances."""

    uses_audio = True
    uses_video = True

    def __init__(self, model_cfg: ModelConfig, loss_cfg: LossConfig):
        super().__init__(model_cfg, loss_cfg)
        m = model_cfg
        self.text_proj = create_text_projection(m)
        nets = {"batch_norm": m.batch_norm, "out_relu": m.embed_relu, "dropout": m.dropout}
        if self.uses_audio and not getattr(self, "concat", False):
            self.audio_proj = create_projection(in_dim=m.audio_dim, hidden_dim=m.hidden_dim, out_dim=m.embed_dim, **nets)
        if self.uses_video and not getattr(self, "concat", False):
            self.video_proj = create_projection(in_dim=m.video_dim, hidden_dim=m.hidden_dim, out_dim=m.embed_dim, **nets)
        self.attention = ModalityAttention(audio_dim=m.audio_dim, video_dim=m.video_dim) if m.attention else None

    def embed_text(self, x_t):
        return self.text_proj(self.prep(x_t))

    def embed_pairs(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """(2B, D) rows [p, q] through `net` -> (2, B, E). With BatchNorm, p and q are normalised by their
        own batch statistics, as AVCA-GZSL's TripletNet's separate calls do (their src/model.py:378-387):
        one call with two BatchNorm blocks (`blockwise_forward`), p's first."""
        b = x.shape[0] // 2
        if self.model_cfg.batch_norm and self.training:
            return blockwise_forward(net, self.prep(x), 2).view(2, b, -1)
        return net(self.prep(x)).view(2, b, -1)

    def embed_audio(self, x_a):
        return self.audio_proj(self.prep(x_a))

    def embed_video(self, x_v):
        return self.video_proj(self.prep(x_v))

    def map_points(self, modality: str, x: torch.Tensor, x_text: torch.Tensor):
        """The joint embedding space: clips through F_A or F_V, classes through F_T."""
        if not (self.uses_audio if modality == "audio" else self.uses_video) or getattr(self, "concat", False):
            return None
        return (self.embed_audio(x) if modality == "audio" else self.embed_video(x)), self.embed_text(x_text)

    def attention_loss(self, batch: dict, a_p, v_p, class_emb) -> dict[str, torch.Tensor]:
        if self.attention is None:
            return {}
        kind = self.loss_cfg.distance
        with torch.no_grad():  # the target only judges the embeddings; it must not move them
            if self.loss_cfg.attention_logits == "dot":  # AVCA: softmax(z . t) = softmax(-(-z . t))
                d_a, d_v = -(a_p @ class_emb.t()), -(v_p @ class_emb.t())
            else:
                d_a, d_v = embedding_distances(a_p, class_emb, kind), embedding_distances(v_p, class_emb, kind)
            target = attention_target(d_a, d_v)
        half = batch["xa"].shape[0] // 2
        w = self.attention(self.prep(batch["xa"][:half]), self.prep(batch["xv"][:half]))
        return {"attention": F.mse_loss(*full_precision(w, target))}

    @torch.no_grad()
    def distances(self, x_a, x_v, has_a, has_v, x_text, *, fusion: str = "equal") -> dict[str, torch.Tensor]:
        """(N, C) distances per test modality; a clip missing a modality is scored on the one it has."""
        kind = self.loss_cfg.distance
        t = self.embed_text(x_text)  # (C, E)
        d_a = embedding_distances(self.embed_audio(x_a), t, kind)
        d_v = embedding_distances(self.embed_video(x_v), t, kind)
        if fusion == "attention":
            if self.attention is None:
                raise ValueError(f"fusion='attention' needs a model trained with attention ({self.model_cfg.kind})")
            w = self.attention(self.prep(x_a), self.prep(x_v))[:, None]  # (N, 1)
            if self.model_cfg.attention_test == "hard":  # AVCA's CJME: w >= 0.5 -> 1, else 0
                w = (w >= 0.5).to(w.dtype)
        elif fusion in ("equal", "sum"):  # sum: AVCA's "both" for AVGZSLNet, d_a + d_v = 2 x the mean
            w = torch.full((x_a.shape[0], 1), 0.5, device=x_a.device)
        else:
            raise ValueError(f"unknown fusion {fusion!r}; use 'equal', 'sum' or 'attention'")
        both = (1 - w) * d_a + w * d_v
        if fusion == "sum":
            both = d_a + d_v
        has_a, has_v = has_a[:, None], has_v[:, None]
        both = torch.where(has_a & has_v, both, torch.where(has_a, d_a, d_v))
        audio = torch.where(has_a, d_a, d_v)
        video = torch.where(has_v, d_v, d_a)
        return {"audio": audio, "video": video, "both": both, "attention": w.squeeze(1)}
