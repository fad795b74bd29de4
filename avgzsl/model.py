"""AVGZSLNet and the deep baselines of Table 1, all as joint audio / video / text embeddings.

Every model maps features to a shared embedding space and classifies by the
nearest class-text embedding. They differ in which projection nets exist and in
the training loss:

    AVGZSLNet      F_A, F_V, F_T, F_DEC; cross-modal decoder loss + composite triplet loss
    CJME           F_A, F_V, F_T; text-anchored triplets weighted per modality + audio-video pair loss
    audio_only     F_A, F_T; text-anchored triplet on audio
    video_only     F_V, F_T; text-anchored triplet on video
    av_concat      F_AV on [audio, video], F_T; text-anchored triplet (needs both modalities)

AVGZSLNet and CJME optionally learn CJME's attention, a per-clip weight w that mixes
the audio and video distances at test time as (1 - w) d_a + w d_v.

The `avca` preset switches on AVCA-GZSL's variant of the same nets (BatchNorm, a
two-layer F_T, a regularised and L2-normalised F_DEC; see `avgzsl.config.avca_preset`).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from avgzsl.avca_model import AVCA
from avgzsl.config import LossConfig, ModelConfig
from avgzsl.layers import InputNormalization, blockwise_forward, create_projection
from avgzsl.losses import (
    attention_target,
    composite_triplet_loss,
    cross_modal_decoder_loss,
    full_precision,
    pairwise_distance,
    triplet,
)


def create_text_projection(m: ModelConfig) -> nn.Module:
    """F_T: a single linear layer (released code), or AVCA's two-layer net when `text_hidden_dim` > 0."""
    if m.text_hidden_dim <= 0:
        return nn.Linear(m.text_dim, m.embed_dim)
    return create_projection(
        in_dim=m.text_dim, hidden_dim=m.text_hidden_dim, out_dim=m.embed_dim, dropout=m.dropout,
        batch_norm=m.batch_norm, out_relu=m.embed_relu,
    )


class CrossModalDecoder(nn.Module):
    """F_DEC: reconstructs the class text feature from any embedding (audio, video or text).

    Released code: Linear -> ReLU -> Linear. AVCA-GZSL adds BatchNorm and Dropout after the hidden
    Linear and L2-normalises the output (their src/model.py:318-326, 393-414).
    """

    def __init__(self, *, embed_dim: int, hidden_dim: int, text_dim: int, batch_norm: bool = False,
                 dropout: float = 0.0, normalize_outputs: bool = False):
        super().__init__()
        if batch_norm or dropout > 0:
            self.net = create_projection(
                in_dim=embed_dim, hidden_dim=hidden_dim, out_dim=text_dim, dropout=dropout, batch_norm=batch_norm
            )
        else:
            self.net = nn.Sequential(
                nn.Linear(embed_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, text_dim)
            )
        self.normalize_outputs = normalize_outputs

    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B, embed) -> (B, text_dim)
        out = self.net(z)
        return F.normalize(out, dim=1) if self.normalize_outputs else out

    def calls(self, zs: list[torch.Tensor]) -> list[torch.Tensor]:
        """[self(z) for z in zs], in that order; with BatchNorm in training, as one call with a BatchNorm block
        per input (`blockwise_forward`: the same statistics and running statistics as the separate calls)."""
        if not (self.training and any(isinstance(m, nn.BatchNorm1d) for m in self.net)):
            return [self(z) for z in zs]
        out = blockwise_forward(self.net, torch.cat(zs), len(zs))
        return list((F.normalize(out, dim=1) if self.normalize_outputs else out).split([len(z) for z in zs]))


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


class JointEmbedding(InputNormalization, nn.Module):
    """Shared plumbing: input normalisation, text projection, test-time distances."""

    uses_audio = True
    uses_video = True

    def __init__(self, model_cfg: ModelConfig, loss_cfg: LossConfig):
        super().__init__()
        self.model_cfg, self.loss_cfg = model_cfg, loss_cfg
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


class AVGZSLNet(JointEmbedding):
    def __init__(self, model_cfg: ModelConfig, loss_cfg: LossConfig):
        super().__init__(model_cfg, loss_cfg)
        m = model_cfg
        self.decoder = CrossModalDecoder(
            embed_dim=m.embed_dim, hidden_dim=m.decoder_hidden_dim, text_dim=m.text_dim,
            batch_norm=m.decoder_batch_norm, dropout=m.decoder_dropout, normalize_outputs=m.normalize_decoder_outputs,
        )

    def training_terms(self, batch: dict) -> dict[str, torch.Tensor]:
        # batch rows: B positives then B negatives; one projection call each, viewed as [p, q]: (2B, D) -> (2, B, E)
        b = batch["xa"].shape[0] // 2
        z_a = self.embed_pairs(self.audio_proj, batch["xa"])
        z_v = self.embed_pairs(self.video_proj, batch["xv"])
        z_t = self.embed_pairs(self.text_proj, batch["xt"])
        x_t_p = self.prep(batch["xt"][:b])  # reconstruction target: the (normalised) class word vector
        terms = cross_modal_decoder_loss(self.decoder, z_a, z_v, z_t, x_t_p, self.loss_cfg)
        terms.update(composite_triplet_loss(z_a, z_v, z_t, self.loss_cfg))
        if self.attention is not None:  # the class embeddings only when needed: they move F_T's BatchNorm statistics
            terms.update(self.attention_loss(batch, z_a[0], z_v[0], self.embed_text(batch["class_text"])))
        return terms


class CJME(JointEmbedding):
    """Coordinated joint multimodal embeddings (Parida et al. 2020) as re-implemented by AVCA-GZSL."""

    def training_terms(self, batch: dict) -> dict[str, torch.Tensor]:
        c = self.loss_cfg
        a_p, a_q = self.embed_pairs(self.audio_proj, batch["xa"]).unbind()
        v_p, v_q = self.embed_pairs(self.video_proj, batch["xv"]).unbind()
        if self.model_cfg.batch_norm and self.training:
            t_p, _ = self.embed_pairs(self.text_proj, batch["xt"]).unbind()  # t_q moves BatchNorm's running stats
        else:
            t_p = self.embed_text(batch["xt"][: len(a_p)])
        batch_mean = c.attention_weighting == "batch_mean"
        if self.attention is not None:
            w = self.attention(self.prep(batch["xa"][: len(a_p)]), self.prep(batch["xv"][: len(a_p)]))
            w = w if batch_mean else w.detach()
        else:
            w = torch.full((a_p.shape[0],), 0.5, device=a_p.device)
        d = lambda x, y: pairwise_distance(x, y, c.distance, c.eps)  # noqa: E731  anchor first
        hinge_a = F.relu(d(t_p, a_p) - d(t_p, a_q) + c.margin)
        hinge_v = F.relu(d(t_p, v_p) - d(t_p, v_q) + c.margin)
        if batch_mean:  # AVCA's (B, 1) x (B,) broadcast: mean_ij (1 - w_i) l_ta_j + w_i l_tv_j
            terms = {"ta": (1 - w.mean()) * hinge_a.mean(), "tv": w.mean() * hinge_v.mean()}
        else:
            terms = {"ta": ((1 - w) * hinge_a).mean(), "tv": (w * hinge_v).mean()}
        terms["pair"] = F.mse_loss(*full_precision(a_p, v_p))
        if self.attention is not None:
            terms.update(self.attention_loss(batch, a_p, v_p, self.embed_text(batch["class_text"])))
        return terms


class SingleModalityNet(JointEmbedding):
    """The audio-only or video-only model of Table 1: one projection net, trained on one modality."""

    def __init__(self, model_cfg: ModelConfig, loss_cfg: LossConfig, modality: str):
        self.modality = modality
        self.uses_audio, self.uses_video = modality == "audio", modality == "video"
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


class ConcatNet(JointEmbedding):
    """The audio-video concatenation model: one projection of [x_a, x_v]; both modalities needed."""

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
