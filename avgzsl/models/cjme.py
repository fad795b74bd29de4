"""CJME (Parida et al., WACV 2020): text-anchored triplets per modality, optional attention.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from avgzsl.models.joint_embedding import JointEmbedding
from avgzsl.models.losses import (
    full_precision,
    pairwise_distance,
)


class CJME(JointEmbedding):
    """Coordinated joint multimodal embeddings (Parida et al. 2020) as re-implemented by AVCA-GZSL."""

    label = "CJME"
    learns_attention = True

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
