"""AVGZSLNet's losses: the cross-modal decoder loss (Eq. 3-6) and the composite triplet loss (Eq. 7-11).

Notation follows the paper: p is the positive tuple, q a tuple of another class.
`distance="mse"` is the paper's d (mean squared error over the feature axis);
`distance="euclidean"` is the released code's triplet margin loss with p=2.
`eps` is the offset `torch.nn.TripletMarginLoss` (the released code's triplet) adds inside
every distance: d(anchor, x) = |anchor - x + eps|, so d is not symmetric when eps != 0.
Each function returns a dict of named terms (scalars), so ablations, logging and
tests see every term on its own.

The AVGZSLNet losses take embeddings stacked as (2, B, E): index 0 holds the positive
tuple p, index 1 the negative tuple q. That is a free view of a projection's (2B, E)
output, and it lets all triplet terms share one distance computation: the 8 composite
terms need only the 8 text-to-audio/video distances d(t_i, a_j), d(t_i, v_j), because
d(x, y) is |x - y + eps|: the anchor's side decides the sign of eps, so the text-anchored terms
read |t - a + eps| and the audio/video-anchored ones |a - t + eps| = |t - a - eps| (one extra norm
of a (2, 2, B, E) tensor when eps != 0). A few batched ops per step instead of ~100 small ones
(about 1 % of a full-scale CPU step).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from avgzsl.settings.experiment import LossConfig


def full_precision(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Reduced-precision tensors in float32, the others as they are: under `train.precision: bfloat16` the
    networks' outputs are bfloat16, and a triplet gap (a difference of two distances) keeps only ~3
    significant digits in bfloat16."""
    return tuple(t.float() if t.dtype in (torch.bfloat16, torch.float16) else t for t in tensors)


def pairwise_distance(x: torch.Tensor, y: torch.Tensor, kind: str, eps: float = 0.0) -> torch.Tensor:
    """d(x, y) = norm(x - y + eps) over the last axis, broadcasting the others: (..., D), (..., D) -> (...).

    x is the anchor side: with eps != 0, d(x, y) != d(y, x), as in torch.nn.functional.pairwise_distance.
    Computed in float32 (`full_precision`).
    """
    x, y = full_precision(x, y)
    return difference_norm(x - y + eps if eps else x - y, kind)


def difference_norm(v: torch.Tensor, kind: str) -> torch.Tensor:
    """d(x, y) from v = x - y: (..., D) -> (...)."""
    if kind == "mse":
        return (v**2).mean(dim=-1)
    if kind == "euclidean":
        return torch.linalg.vector_norm(v, dim=-1)
    raise ValueError(f"unknown distance {kind!r}")


def triplet(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, *, margin: float, kind: str,
            eps: float = 0.0):
    """mean_i [d(anchor_i, positive_i) - d(anchor_i, negative_i) + margin]_+ over (B, D) rows: a scalar;
    (K, B, D) inputs give the K losses at once, (K,).

    d(a, x) = norm(a - x + eps): with kind="euclidean" and eps=1e-6 this is torch.nn.TripletMarginLoss.
    Computed in float32 (`full_precision`); autograd differentiates it.
    """
    anchor, positive, negative = full_precision(anchor, positive, negative)
    gap = pairwise_distance(anchor, positive, kind, eps) - pairwise_distance(anchor, negative, kind, eps)  # (..., B)
    return F.relu(gap + margin).mean(dim=-1)


def hinge_terms(gaps: dict[str, torch.Tensor], margin: float) -> dict[str, torch.Tensor]:
    """{name: (B,) d(anchor, positive) - d(anchor, negative)} -> {name: mean_i [gap_i + margin]_+}."""
    if not gaps:
        return {}
    values = F.relu(torch.stack(list(gaps.values())) + margin).mean(dim=1)  # (K, B) -> (K,)
    return dict(zip(gaps, values.unbind()))


def cross_modal_decoder_loss(decoder, z_a, z_v, z_t, x_t_p, cfg: LossConfig) -> dict[str, torch.Tensor]:
    """L_REC (Eq. 3), L_CTA (Eq. 4), L_CTV (Eq. 5). Reconstruction is MSE, as in the paper and the released
    code, unless `rec_distance` asks for AVCA-GZSL's Euclidean distance.

    z_a, z_v, z_t: (2, B, E) embeddings [p, q]; x_t_p: (B, Dt) the positive class's (normalised) word vector.
    """
    # without BatchNorm, five decoder calls of B rows, not one of 5B: on CPU the concatenation and the copies
    # its backward makes of the (5B, Dt) gradient cost more than the extra calls (benchmarks/README.md); with
    # BatchNorm, `decoder.calls` runs them as one call with a BatchNorm block each
    (t_p, _), (a_p, a_q), (v_p, v_q) = z_t.unbind(), z_a.unbind(), z_v.unbind()  # unbind: one backward op
    # (B, E) -> (B, Dt) each; AVCA's call order (a_p, v_p, t_p, then a_q, v_q), which a decoder with
    # BatchNorm needs for the same running statistics (their src/model.py:399-404)
    negatives = [z for z, on in ((a_q, cfg.cta), (v_q, cfg.ctv)) if on]
    calls = getattr(decoder, "calls", None)
    rec_a, rec_v, rec_t, *rec_q = calls([a_p, v_p, t_p, *negatives]) if calls else [
        decoder(z) for z in (a_p, v_p, t_p, *negatives)]
    terms: dict[str, torch.Tensor] = {}
    if cfg.rec and cfg.rec_distance == "euclidean":  # AVCA-GZSL: mean L2 distance (their src/loss.py:91-95)
        terms["rec"] = sum(pairwise_distance(r, x_t_p, "euclidean").mean() for r in (rec_t, rec_a, rec_v))
    elif cfg.rec:
        rec_t, rec_a, rec_v, x_t_p = full_precision(rec_t, rec_a, rec_v, x_t_p)
        terms["rec"] = F.mse_loss(rec_t, x_t_p) + F.mse_loss(rec_a, x_t_p) + F.mse_loss(rec_v, x_t_p)
    if cfg.cta:
        terms["cta"] = triplet(rec_t, rec_a, rec_q.pop(0), margin=cfg.margin, kind=cfg.distance, eps=cfg.eps)
    if cfg.ctv:
        terms["ctv"] = triplet(rec_t, rec_v, rec_q.pop(0), margin=cfg.margin, kind=cfg.distance, eps=cfg.eps)
    return terms


def composite_triplet_loss(z_a, z_v, z_t, cfg: LossConfig) -> dict[str, torch.Tensor]:
    """L_TA, L_AT, L_TV, L_VT (Eq. 7-11); mirrored adds the same four with q as the positive class.

    z_a, z_v, z_t: (2, B, E) embeddings [p, q].
    """
    # text-anchored: d_a[i, j] = d(t_i, a_j) = |t_i - a_j + eps|; audio-anchored: a_d[i, j] = d(a_j, t_i)
    d_a = pairwise_distance(z_t[:, None], z_a[None], cfg.distance, cfg.eps)  # (2, 2, B)
    d_v = pairwise_distance(z_t[:, None], z_v[None], cfg.distance, cfg.eps)
    if cfg.eps:
        a_d = pairwise_distance(z_t[:, None], z_a[None], cfg.distance, -cfg.eps)
        v_d = pairwise_distance(z_t[:, None], z_v[None], cfg.distance, -cfg.eps)
    else:  # d is symmetric
        a_d, v_d = d_a, d_v
    gaps = {}
    for r, suffix in ((0, ""), (1, "_mirror"))[: 2 if cfg.mirrored else 1]:
        o = 1 - r  # r: the positive tuple of this set of terms, o: the negative one
        if cfg.ta:  # Eq. 7: text anchor, audio positive / negative
            gaps["ta" + suffix] = d_a[r, r] - d_a[r, o]
        if cfg.at:  # Eq. 8: audio anchor, text positive / negative
            gaps["at" + suffix] = a_d[r, r] - a_d[o, r]
        if cfg.tv:  # Eq. 9
            gaps["tv" + suffix] = d_v[r, r] - d_v[r, o]
        if cfg.vt:  # Eq. 10
            gaps["vt" + suffix] = v_d[r, r] - v_d[o, r]
    return hinge_terms(gaps, cfg.margin)


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
