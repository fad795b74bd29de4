"""AVGZSLNet (Mazumder et al., "AVGZSLNet: Audio-Visual Generalized Zero-Shot Learning by Reconstructing
Label Features from Multi-Modal Embeddings", WACV 2021): the joint embedding plus its cross-modal decoder.

The loss terms themselves live in `avgzsl.models.losses`; which are on, and how distances are taken, is the
experiment's `LossConfig` (presets: docs/PRESETS.md).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from avgzsl.models.joint_embedding import JointEmbedding
from avgzsl.models.layers import blockwise_forward, create_projection
from avgzsl.models.losses import (
    composite_triplet_loss,
    cross_modal_decoder_loss,
)
from avgzsl.settings.experiment import LossConfig, ModelConfig


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


class AVGZSLNet(JointEmbedding):
    """AVGZSLNet, read against the paper's Section 3.2.

    Training tuples pair a clip of class p with a clip of another class q (`batch`: B positives, then B
    negatives), with the class text features x^t:

        (1), (2)  a, v, t = F_A(x^a), F_V(x^v), F_T(x^t)        for p and q (`embed_pairs`: (2B, D) -> (2, B, E))
        (3)  L_REC = d(F_DEC(t_p), x^t_p) + d(F_DEC(a_p), x^t_p) + d(F_DEC(v_p), x^t_p)
        (4)  L_CTA = [d(F_DEC(t_p), F_DEC(a_p)) - d(F_DEC(t_p), F_DEC(a_q)) + delta]_+
        (5)  L_CTV = [d(F_DEC(t_p), F_DEC(v_p)) - d(F_DEC(t_p), F_DEC(v_q)) + delta]_+
        (6)  L_CMD = L_REC + L_CTA + L_CTV                      (`cross_modal_decoder_loss`: rec, cta, ctv)
        (7)-(10)  L_TA, L_AT, L_TV, L_VT: triplets with the text, audio or video embedding as anchor
        (11) L_CT = L_TV + L_VT + L_TA + L_AT                   (`composite_triplet_loss`: ta, at, tv, vt)
        (12) L = L_CMD + L_CT                                   (the sum of `training_terms`)

    d is the MSE in the `paper` preset and the Euclidean triplet of the authors' released code in `official`
    (which also adds the four mirrored terms). Testing (Sec. 3.2.4) is `JointEmbedding.distances`: the nearest
    class text embedding to the audio, the video, or both embeddings (their distances averaged, or mixed by
    CJME's attention weight when `attention` is on).
    """

    label = "AVGZSLNet"
    learns_attention = True

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
