"""AVGZSLNet's losses: the cross-modal decoder loss (Eq. 3-6) and the composite triplet loss (Eq. 7-11).

Notation follows the paper: p is the positive tuple, q a tuple of another class.
`distance="mse"` is the paper's d (mean squared error over the feature axis);
`distance="euclidean"` is the released code's triplet margin loss with p=2.
Each function returns a dict of named terms (scalars), so ablations, logging and
tests see every term on its own.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from avgzsl.config import LossConfig


def pairwise_distance(x: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """Row-wise d(x_i, y_i): (B, D), (B, D) -> (B,)."""
    if kind == "mse":
        return ((x - y) ** 2).mean(dim=-1)
    if kind == "euclidean":
        return torch.linalg.vector_norm(x - y, dim=-1)
    raise ValueError(f"unknown distance {kind!r}")


def triplet(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, *, margin: float, kind: str):
    """mean_i [d(anchor, positive) - d(anchor, negative) + margin]_+"""
    gap = pairwise_distance(anchor, positive, kind) - pairwise_distance(anchor, negative, kind)
    return F.relu(gap + margin).mean()


def cross_modal_decoder_loss(
    decoder, a_p, v_p, t_p, a_q, v_q, x_t_p, cfg: LossConfig
) -> dict[str, torch.Tensor]:
    """L_REC (Eq. 3), L_CTA (Eq. 4), L_CTV (Eq. 5). Reconstruction is always MSE, as in both sources."""
    terms: dict[str, torch.Tensor] = {}
    # one decoder call over all five embeddings: one large matmul is faster than five small ones
    rec_t, rec_a, rec_v, rec_aq, rec_vq = decoder(torch.cat([t_p, a_p, v_p, a_q, v_q])).chunk(5)  # (B, text_dim) each
    if cfg.rec:
        terms["rec"] = F.mse_loss(rec_t, x_t_p) + F.mse_loss(rec_a, x_t_p) + F.mse_loss(rec_v, x_t_p)
    if cfg.cta:
        terms["cta"] = triplet(rec_t, rec_a, rec_aq, margin=cfg.margin, kind=cfg.distance)
    if cfg.ctv:
        terms["ctv"] = triplet(rec_t, rec_v, rec_vq, margin=cfg.margin, kind=cfg.distance)
    return terms


def _composite_terms(a_p, v_p, t_p, a_q, v_q, t_q, cfg: LossConfig, suffix: str = "") -> dict[str, torch.Tensor]:
    m, k = cfg.margin, cfg.distance
    terms = {}
    if cfg.ta:  # Eq. 7: text anchor, audio positive / negative
        terms["ta" + suffix] = triplet(t_p, a_p, a_q, margin=m, kind=k)
    if cfg.at:  # Eq. 8: audio anchor, text positive / negative
        terms["at" + suffix] = triplet(a_p, t_p, t_q, margin=m, kind=k)
    if cfg.tv:  # Eq. 9
        terms["tv" + suffix] = triplet(t_p, v_p, v_q, margin=m, kind=k)
    if cfg.vt:  # Eq. 10
        terms["vt" + suffix] = triplet(v_p, t_p, t_q, margin=m, kind=k)
    return terms


def composite_triplet_loss(a_p, v_p, t_p, a_q, v_q, t_q, cfg: LossConfig) -> dict[str, torch.Tensor]:
    """L_TA, L_AT, L_TV, L_VT (Eq. 11); mirrored adds the same four with q as the positive class."""
    terms = _composite_terms(a_p, v_p, t_p, a_q, v_q, t_q, cfg)
    if cfg.mirrored:
        terms.update(_composite_terms(a_q, v_q, t_q, a_p, v_p, t_p, cfg, suffix="_mirror"))
    return terms


def attention_target(d_audio: torch.Tensor, d_video: torch.Tensor, band: float = 0.1) -> torch.Tensor:
    """CJME's attention target from the confidence of each modality (lower entropy = more confident).

    d_*: (B, C) distances to every training class. Returns (B,) in {0, 0.5, 1}:
    0 trusts audio, 1 trusts video, 0.5 when their entropies are within `band`.
    """
    def entropy(d):
        p = torch.softmax(-d, dim=1)
        return -(p * torch.log(p.clamp_min(1e-12))).sum(dim=1)

    h_a, h_v = entropy(d_audio), entropy(d_video)
    target = torch.full_like(h_a, 0.5)
    target[h_a < h_v - band] = 0.0
    target[h_v < h_a - band] = 1.0
    return target
