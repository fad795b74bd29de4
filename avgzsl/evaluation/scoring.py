"""A trained model's distances to every class, per test modality: what training validates on and evaluation saves.

Kept apart from the training loop and from the experiment runner, so that both read the same scoring and a
run's data flows one way: train (validating with these scores) -> evaluate (saving them).
"""

from __future__ import annotations

import numpy as np
import torch

from avgzsl.formats.feature_split import FeatureSplit
from avgzsl.models.method import ZSLMethod, check_distances


def test_modalities(model: ZSLMethod) -> list[str]:
    """The rows a method reports, as it declares them."""
    return list(type(model).test_modalities)


def model_distances(model: ZSLMethod, split: FeatureSplit, device: torch.device, *, fusion="equal"):
    model.eval()
    out = model.distances(
        split.audio.to(device), split.video.to(device), split.has_audio.to(device), split.has_video.to(device),
        split.text.to(device), fusion=fusion,
    )
    check_distances(model, out, len(split.labels), split.text.shape[0])
    return {k: (v.cpu().numpy() if v is not None else None) for k, v in out.items()}


def reported_fusion(model: ZSLMethod, protocol: str = "paper") -> str:
    """The "both" fusion a model's reported numbers use: its learned attention if it has one, else the mean
    of the audio and video distances, or their sum under the avca protocol (AVCA-GZSL's src/utils.py:269-273)."""
    if getattr(model, "attention", None) is not None:
        return "attention"
    return "sum" if protocol == "avca" else "equal"


def both_fusion(model: ZSLMethod, protocol: str = "paper") -> str | None:
    """How the reported "both" row is formed, for the run's metrics and the tables' labels: `reported_fusion`,
    or "video_branch" for AVCA scored as AVCA-GZSL's test (all three rows the video branch); None for a model
    whose one row is its joint embedding (no audio and video rows to fuse)."""
    if not {"audio", "video"} <= set(test_modalities(model)):
        return None
    if getattr(model, "scores_video_branch", False):
        return "video_branch"
    return reported_fusion(model, protocol)


def selection_modality(model: ZSLMethod, select_modality: str) -> str:
    """The row whose validation HM picks the epoch: the configured one when the model reports it, else its
    last (a single-modality model's only) row; the trainer (avgzsl.training.train) and the run's record share it."""
    modalities = test_modalities(model)
    return select_modality if select_modality in modalities else modalities[-1]


def model_scores(model: ZSLMethod, split: FeatureSplit, device, *, protocol: str = "paper") -> dict[str, np.ndarray]:
    """Distances per test modality; an attention model's `both` uses its learned weights, and under the
    avca protocol a model without attention reports AVCA's `both` = d_a + d_v."""
    fusion = reported_fusion(model, protocol)
    raw = model_distances(model, split, device, fusion=fusion)
    scores = {m: raw[m] for m in test_modalities(model)}
    if fusion == "attention":
        scores["both_equal"] = model_distances(model, split, device, fusion="equal")["both"]
        scores["attention_weight"] = raw["attention"]
    return scores
