"""Presets differ exactly where the released code departs from the paper; model shapes follow the released training code."""

import dataclasses

import pytest
import torch
import torch.nn as nn

from avgzsl.models.avgzslnet import AVGZSLNet
from avgzsl.models.registry import create_model
from avgzsl.settings.experiment import build_experiment, preset


def flat(cfg):
    out = {}
    for section in ("model", "loss", "train"):
        for k, v in dataclasses.asdict(getattr(cfg, section)).items():
            out[(section, k)] = v
    return out


def test_presets_differ_only_in_distance_mirroring_and_eps():
    official, paper = flat(preset("official")), flat(preset("paper"))
    differ = {k for k in official if official[k] != paper[k]}
    assert differ == {("loss", "distance"), ("loss", "mirrored"), ("loss", "eps")}
    assert (official[("loss", "eps")], paper[("loss", "eps")]) == (1e-6, 0.0)  # torch.nn.TripletMarginLoss's
    assert (official[("loss", "distance")], paper[("loss", "distance")]) == ("euclidean", "mse")
    assert (official[("loss", "mirrored")], paper[("loss", "mirrored")]) == (True, False)


def test_official_hyperparameters():
    c = preset("official")
    assert (c.train.lr, c.train.momentum, c.train.batch_size, c.train.epochs) == (0.3, 0.9, 4096, 200)
    assert (list(c.train.milestones), c.train.gamma, c.loss.margin) == ([75, 125, 175], 0.1, 1.0)
    assert c.model.normalize_inputs


def test_official_network_shapes():
    m = create_model(preset("official").model, preset("official").loss)
    assert isinstance(m, AVGZSLNet)
    layers = [type(x) for x in m.audio_proj]
    assert layers[0] is nn.Linear and issubclass(layers[1], nn.Dropout) and layers[2:] == [nn.ReLU, nn.Linear]
    assert (m.audio_proj[0].in_features, m.audio_proj[0].out_features, m.audio_proj[3].out_features) == (1024, 256, 64)
    assert m.audio_proj[1].p == 0.5
    assert isinstance(m.text_proj, nn.Linear) and (m.text_proj.in_features, m.text_proj.out_features) == (300, 64)
    dec = [x for x in m.decoder.net if isinstance(x, nn.Linear)]
    assert [(d.in_features, d.out_features) for d in dec] == [(64, 128), (128, 300)]
    assert not any(isinstance(x, nn.BatchNorm1d) for x in m.audio_proj)


def test_term_count_per_preset():
    batch = {"xa": torch.randn(16, 1024), "xv": torch.randn(16, 1024), "xt": torch.randn(16, 300),
             "class_text": torch.randn(5, 300)}
    for name, n_ct in (("official", 8), ("paper", 4)):
        cfg = preset(name)
        terms = create_model(cfg.model, cfg.loss).training_terms(batch)
        assert len([k for k in terms if k not in ("rec", "cta", "ctv")]) == n_ct
        assert {"rec", "cta", "ctv"} <= set(terms)


def test_ablation_switch_removes_term():
    cfg = build_experiment(loss={"rec": False, "vt": False})
    batch = {"xa": torch.randn(8, 1024), "xv": torch.randn(8, 1024), "xt": torch.randn(8, 300),
             "class_text": torch.randn(3, 300)}
    terms = create_model(cfg.model, cfg.loss).training_terms(batch)
    assert "rec" not in terms and "vt" not in terms and "vt_mirror" not in terms and "ta" in terms


@pytest.mark.parametrize(
    "section,overrides,msg",
    [
        ("model", {"kind": "avgzsl"}, "model.kind"),
        ("loss", {"distance": "cosine"}, "loss.distance"),
        ("train", {"epochs": 0}, "train.epochs"),
        ("train", {"lerning_rate": 0.1}, "unknown train setting"),
    ],
)
def test_bad_config_values_are_named(section, overrides, msg):
    with pytest.raises(ValueError, match=msg):
        build_experiment(**{section: overrides})


def test_attention_on_a_method_that_learns_none_is_refused_naming_the_method():
    cfg = build_experiment(model={"kind": "audio_only", "attention": True})
    with pytest.raises(ValueError, match="model.attention: audio only learns no attention"):
        create_model(cfg.model, cfg.loss)


def test_missing_modality_scored_on_the_one_present():
    cfg = preset("official")
    m = create_model(cfg.model, cfg.loss).eval()
    xa, xv, text = torch.randn(3, 1024), torch.randn(3, 1024), torch.randn(4, 300)
    has_a, has_v = torch.tensor([True, False, True]), torch.tensor([True, True, False])
    d = m.distances(xa, xv, has_a, has_v, text)
    full = m.distances(xa, xv, torch.ones(3, dtype=torch.bool), torch.ones(3, dtype=torch.bool), text)
    assert torch.allclose(d["both"][1], full["video"][1]) and torch.allclose(d["both"][2], full["audio"][2])
    assert torch.allclose(d["both"][0], 0.5 * (full["audio"][0] + full["video"][0]))
    assert torch.allclose(d["audio"][1], full["video"][1])  # no audio: the video distance stands in
