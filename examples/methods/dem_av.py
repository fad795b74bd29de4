"""DEM for audio-visual zero-shot learning: a method written outside avgzsl against its model interface.

DEM (Zhang, Xiang and Gong, "Learning a Deep Embedding Model for Zero-Shot Learning", CVPR 2017) embeds the
*semantic* space into the *visual* one: a two-layer net maps a class's word vector to where that class's
features lie, trained by least squares, and a clip takes the class whose mapped word vector is nearest to its
features. It is the shortest strong method of the field's literature, and taking the feature space as the
embedding space avoids the hubness that projecting features into the word-vector space causes (their Sec. 3).

Here it gets one such net per modality: f_a maps word vectors into the audio feature space, f_v into the
video one. Training minimises ||x_a - f_a(t_y)||^2 + ||x_v - f_v(t_y)||^2 over the batch's clips; DEM's weight
decay is `options.weight_decay` on the nets' weights. A test clip's distance to class c is ||x - f(t_c)||^2
per modality, and "both" mixes the two as the pipeline asks (`fusion`).

Run it with `model.kind: dem_av:DEM` and this folder on PYTHONPATH (docs/METHODS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from avgzsl.models.method import ZSLMethod


@dataclass
class DEMOptions:
    hidden_dim: int = 700  # DEM's hidden layer for word-vector inputs (their Sec. 4.1)
    weight_decay: float = 1e-4  # lambda of their Eq. 2, on the two nets' weights


def _semantic_to_feature_net(text_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(text_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, out_dim), nn.ReLU())


class DEM(ZSLMethod):
    label = "DEM"
    modalities = ("audio", "video")
    test_modalities = ("audio", "video", "both")
    Options = DEMOptions

    def __init__(self, model_cfg, loss_cfg):
        super().__init__(model_cfg, loss_cfg)
        m, o = model_cfg, self.options
        self.to_audio = _semantic_to_feature_net(m.text_dim, o.hidden_dim, m.audio_dim)
        self.to_video = _semantic_to_feature_net(m.text_dim, o.hidden_dim, m.video_dim)

    def _decay(self) -> torch.Tensor:
        weights = [p for name, p in self.named_parameters() if name.endswith("weight")]
        return self.options.weight_decay * sum((w**2).sum() for w in weights)

    def training_terms(self, batch: dict) -> dict[str, torch.Tensor]:
        t = self.prep(batch["xt"])  # (2B, Dt): every clip's class word vector
        x_a, x_v = self.prep(batch["xa"]), self.prep(batch["xv"])  # (2B, Da), (2B, Dv)
        return {
            "audio_ls": ((x_a - self.to_audio(t)) ** 2).sum(dim=1).mean(),
            "video_ls": ((x_v - self.to_video(t)) ** 2).sum(dim=1).mean(),
            "decay": self._decay(),
        }

    def map_points(self, modality: str, x: torch.Tensor, x_text: torch.Tensor):
        """DEM's space is the feature space: clips as they are, classes through f_a or f_v."""
        net = self.to_audio if modality == "audio" else self.to_video
        return self.prep(x), net(self.prep(x_text))

    @torch.no_grad()
    def distances(self, x_a, x_v, has_a, has_v, x_text, *, fusion: str = "equal") -> dict[str, torch.Tensor]:
        t = self.prep(x_text)  # (C, Dt)
        d_a = torch.cdist(self.prep(x_a), self.to_audio(t)) ** 2  # (N, C)
        d_v = torch.cdist(self.prep(x_v), self.to_video(t)) ** 2
        both = d_a + d_v if fusion == "sum" else (d_a + d_v) / 2
        has_a, has_v = has_a[:, None], has_v[:, None]  # a clip without a modality is scored on the other
        return {
            "audio": torch.where(has_a, d_a, d_v),
            "video": torch.where(has_v, d_v, d_a),
            "both": torch.where(has_a & has_v, both, torch.where(has_a, d_a, d_v)),
            "attention": None,
        }
