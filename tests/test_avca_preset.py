"""The `avca` preset: AVCA-GZSL's AVGZSLNet and CJME, against a hand computation and against their own classes.

The comparison with AVCA-GZSL's classes runs when AVCA_GZSL_REPO names a checkout of their repository (the
folder holding src/model.py and src/loss.py); it is skipped otherwise.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import types
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from avca_helpers import spread_batch_norm_affine

from avgzsl.models.registry import create_model
from avgzsl.settings.experiment import build_experiment

AVCA_REPO = Path(os.environ.get("AVCA_GZSL_REPO", "")) if os.environ.get("AVCA_GZSL_REPO") else None
needs_avca = pytest.mark.skipif(
    AVCA_REPO is None or not (AVCA_REPO / "src" / "model.py").is_file(),
    reason="set AVCA_GZSL_REPO to a checkout of AVCA-GZSL to compare with their classes",
)

SMALL = {"audio_dim": 6, "video_dim": 5, "text_dim": 7, "hidden_dim": 8, "text_hidden_dim": 4,
         "decoder_hidden_dim": 3, "embed_dim": 4, "dropout": 0.0, "decoder_dropout": 0.0}


def avca_model(kind: str = "avgzslnet", **model):
    cfg = build_experiment(preset_name="avca", model={"kind": kind, **model})
    torch.manual_seed(0)
    net = create_model(cfg.model, cfg.loss)
    spread_batch_norm_affine(net)
    return net.train(), cfg


def pair_batch(b: int, da: int, dv: int, dt: int, seed: int = 1) -> dict:
    g = torch.Generator().manual_seed(seed)
    rand = lambda *shape: torch.randn(*shape, generator=g)  # noqa: E731
    text = rand(6, dt)
    labels_p, labels_q = torch.tensor([0, 1, 2, 0, 1][:b]), torch.tensor([3, 4, 5, 5, 3][:b])
    return {"xa": rand(2 * b, da), "xv": rand(2 * b, dv), "xt": text[torch.cat([labels_p, labels_q])],
            "class_text": text}


# ------------------------------------------------------------------ preset values


def test_avca_preset_settings_follow_their_run_scripts():
    cfg = build_experiment(preset_name="avca")
    m, loss, t = cfg.model, cfg.loss, cfg.train
    assert (t.optimizer, t.lr, t.batch_size, t.batches_per_epoch, t.epochs, t.lr_schedule, t.patience) == (
        "adam", 1e-3, 256, 500, 50, "plateau", 3)
    assert (m.hidden_dim, m.text_hidden_dim, m.decoder_hidden_dim, m.dropout, m.decoder_dropout) == (1024, 300, 64, 0.8, 0.5)
    assert m.batch_norm and m.decoder_batch_norm and m.normalize_decoder_outputs and not m.normalize_inputs
    assert (loss.distance, loss.rec_distance, loss.mirrored) == ("euclidean", "euclidean", False)
    assert t.protocol == "avca"
    cjme = build_experiment(preset_name="avca", model={"kind": "cjme"}).model
    assert (cjme.dropout, cjme.embed_relu, cjme.attention, cjme.attention_test) == (0.2, True, True, "hard")


def test_avca_preset_keeps_user_overrides():
    cfg = build_experiment(preset_name="avca", model={"kind": "cjme", "dropout": 0.0}, train={"lr": 0.01})
    assert cfg.model.dropout == 0.0 and cfg.train.lr == 0.01


@pytest.mark.parametrize("section,key,value", [
    ("train", "optimizer", "rmsprop"), ("train", "lr_schedule", "cosine"), ("loss", "rec_distance", "l1"),
    ("loss", "attention_logits", "cosine"), ("loss", "attention_weighting", "per_batch"),
    ("model", "attention_test", "argmax"), ("train", "batches_per_epoch", -1),
])
def test_bad_avca_settings_name_the_key(section, key, value):
    with pytest.raises(ValueError, match=key):
        build_experiment(preset_name="avca", **{section: {key: value}})


# ------------------------------------------------------------------ hand computation


def _net(seq, x):
    """Linear -> BatchNorm (batch statistics, biased variance) -> ReLU -> Linear [-> ReLU], by hand."""
    lin1, bn, lin2 = seq[0], seq[1], seq[4]
    h = x @ lin1.weight.T + lin1.bias
    h = (h - h.mean(0)) / torch.sqrt(h.var(0, unbiased=False) + bn.eps) * bn.weight + bn.bias
    out = torch.relu(h) @ lin2.weight.T + lin2.bias
    return torch.relu(out) if len(seq) == 6 else out


EPS = 1e-6  # torch.nn.TripletMarginLoss's offset inside the distance, kept by the preset


def _hinge(anchor, pos, neg):
    return torch.relu((anchor - pos + EPS).norm(dim=1) - (anchor - neg + EPS).norm(dim=1) + 1.0).mean()


def test_avgzslnet_avca_loss_matches_hand_computation():
    net, _ = avca_model(**SMALL)
    batch, b = pair_batch(5, 6, 5, 7), 5
    terms = net.training_terms(batch)
    with torch.no_grad():
        half = lambda seq, x: (_net(seq, x[:b]), _net(seq, x[b:]))  # noqa: E731  BN statistics per half
        (a_p, a_q), (v_p, v_q), (t_p, _) = half(net.audio_proj, batch["xa"]), half(net.video_proj, batch["xv"]), \
            half(net.text_proj, batch["xt"])
        dec = lambda z: F.normalize(_net(net.decoder.net, z), dim=1)  # noqa: E731
        x_t = batch["xt"][:b]
        r_t, r_a, r_v = dec(t_p), dec(a_p), dec(v_p)
        expected = {
            "rec": sum((r - x_t).norm(dim=1).mean() for r in (r_t, r_a, r_v)),
            "cta": _hinge(r_t, r_a, dec(a_q)), "ctv": _hinge(r_t, r_v, dec(v_q)),
            "ta": _hinge(t_p, a_p, a_q), "tv": _hinge(t_p, v_p, v_q),
            "at": _hinge(a_p, t_p, half(net.text_proj, batch["xt"])[1]),
            "vt": _hinge(v_p, t_p, half(net.text_proj, batch["xt"])[1]),
        }
    assert set(terms) == set(expected)
    for name, value in expected.items():
        torch.testing.assert_close(terms[name].detach(), value, rtol=1e-5, atol=1e-6, msg=name)


def test_cjme_avca_loss_matches_hand_computation():
    net, _ = avca_model("cjme", **SMALL)
    batch, b = pair_batch(5, 6, 5, 7), 5
    terms = net.training_terms(batch)
    with torch.no_grad():
        half = lambda seq, x: (_net(seq, x[:b]), _net(seq, x[b:]))  # noqa: E731
        (a_p, a_q), (v_p, v_q), (t_p, _) = half(net.audio_proj, batch["xa"]), half(net.video_proj, batch["xv"]), \
            half(net.text_proj, batch["xt"])
        bn, lin = net.attention.net
        x = torch.cat([batch["xa"][:b], batch["xv"][:b]], 1)
        x = (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + bn.eps) * bn.weight + bn.bias
        w = torch.sigmoid(x @ lin.weight.T + lin.bias).squeeze(1)
        l_ta = torch.relu((t_p - a_p + EPS).norm(dim=1) - (t_p - a_q + EPS).norm(dim=1) + 1)
        l_tv = torch.relu((t_p - v_p + EPS).norm(dim=1) - (t_p - v_q + EPS).norm(dim=1) + 1)
        ct = ((1 - w)[:, None] * l_ta[None, :] + w[:, None] * l_tv[None, :]).mean()  # AVCA's (B,1) x (B,) broadcast
        classes = _net(net.text_proj, batch["class_text"])
        entropy = lambda z: torch.distributions.Categorical(torch.softmax(z @ classes.T, 1)).entropy()  # noqa: E731
        h_a, h_v = entropy(a_p), entropy(v_p)
        target = torch.where(h_v - h_a > 0.1, 0.0, torch.where(h_a - h_v > 0.1, 1.0, 0.5))
        expected = ct + F.mse_loss(a_p, v_p) + F.mse_loss(w, target)
    torch.testing.assert_close(sum(terms.values()).detach(), expected, rtol=1e-5, atol=1e-6)


def test_avca_batch_norm_statistics_are_per_half():
    """p and q differ in mean: one call over both halves would normalise them together and give other values."""
    net, _ = avca_model(**SMALL)
    x = torch.cat([torch.randn(5, 6), torch.randn(5, 6) + 3.0])
    pairs = net.embed_pairs(net.audio_proj, x)
    torch.testing.assert_close(pairs[1], net.embed_audio(x[5:]))
    assert not torch.allclose(pairs[1], net.embed_audio(x)[5:])


def test_decoder_outputs_are_unit_norm():
    net, _ = avca_model(**SMALL)
    out = net.decoder(torch.randn(6, 4))
    torch.testing.assert_close(out.norm(dim=1), torch.ones(6))


def test_hard_attention_at_test_rounds_the_weight():
    net, _ = avca_model("cjme", **SMALL)
    net.eval()
    xa, xv, xt = torch.randn(9, 6), torch.randn(9, 5), torch.randn(6, 7)
    ones = torch.ones(9, dtype=torch.bool)
    out = net.distances(xa, xv, ones, ones, xt, fusion="attention")
    assert set(out["attention"].unique().tolist()) <= {0.0, 1.0}
    w = out["attention"][:, None]
    torch.testing.assert_close(out["both"], (1 - w) * out["audio"] + w * out["video"])


# ------------------------------------------------------------------ AVCA-GZSL's own classes


@pytest.fixture
def avca_modules(monkeypatch):
    """Their src/model.py and src/loss.py, imported from the checkout (torchvision stubbed: imported, unused)."""
    if importlib.util.find_spec("torchvision") is None:
        stub = types.ModuleType("torchvision")
        stub.models = types.ModuleType("torchvision.models")
        monkeypatch.setitem(sys.modules, "torchvision", stub)
        monkeypatch.setitem(sys.modules, "torchvision.models", stub.models)
    monkeypatch.setattr(torch.Tensor, "cuda", lambda self, *a, **k: self)  # their CJMELoss calls .cuda()
    loaded = {}
    for name in ("model", "loss"):
        spec = importlib.util.spec_from_file_location(f"avca_src_{name}", AVCA_REPO / "src" / f"{name}.py")
        loaded[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded[name])
    return loaded


THEIR_PREFIX = {"audio_proj.": "triplet_net.embedding_net1.fc.", "video_proj.": "triplet_net.embedding_net2.fc.",
                "text_proj.": "triplet_net.embedding_net3.fc.", "decoder.net.": "decoder_net.embedding_net.fc.",
                "attention.net.": "attention_model."}


def _to_theirs(state: dict) -> dict:
    out = {}
    for key, value in state.items():
        prefix = next(p for p in THEIR_PREFIX if key.startswith(p))
        out[THEIR_PREFIX[prefix] + key[len(prefix):]] = value.clone()
    return out


def _their_args(**extra):
    return argparse.Namespace(input_size=None, input_size_audio=6, input_size_video=5, embeddings_hidden_size=8,
                              embedding_dropout=0.0, decoder_dropout=0.0, dropout_baselines=0.0,
                              embedding_use_bn=True, decoder_use_bn=True, decoder_hidden_size=3,
                              normalize_decoder_outputs=True, **extra)


SMALL_300 = {**SMALL, "text_dim": 300, "text_hidden_dim": 300, "embed_dim": 64}  # their F_T: 300 -> 300 -> 64, hard-wired


@needs_avca
def test_avgzslnet_matches_avca_gzsl_classes(avca_modules):
    # in float64: BatchNorm over 5-row halves amplifies float32 rounding, so merely summing the two halves'
    # weight gradients in another order (one product over both, as `blockwise_forward` does) differs by ~1e-4
    ours, _ = avca_model(**SMALL_300)
    theirs = avca_modules["model"].AVGZSLNet(_their_args()).train()
    theirs.load_state_dict(_to_theirs(ours.state_dict()))
    ours, theirs = ours.double(), theirs.double()
    batch, b = {k: v.double() for k, v in pair_batch(5, 6, 5, 300).items()}, 5
    our_loss = sum(ours.training_terms(batch).values())
    inputs = (batch["xa"][:b], batch["xv"][:b], batch["xt"][:b], batch["xa"][b:], batch["xv"][b:], batch["xt"][b:])
    criterion = avca_modules["loss"].AVGZSLLoss(margin=1.0, distance_fn=avca_modules["loss"].L2Loss())
    their_loss, _ = criterion(*theirs(*inputs))
    torch.testing.assert_close(our_loss, their_loss, rtol=1e-5, atol=1e-6)
    our_loss.backward()
    their_loss.backward()
    their_params = dict(theirs.named_parameters())
    for key, value in _to_theirs({k: p.grad for k, p in ours.named_parameters()}).items():
        torch.testing.assert_close(value, their_params[key].grad, rtol=1e-7, atol=1e-9, msg=key)
    for key, value in _to_theirs(ours.state_dict()).items():  # running statistics moved the same way
        if "running" in key or "num_batches" in key:
            torch.testing.assert_close(value, theirs.state_dict()[key], msg=key)
    ours.eval(), theirs.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours.embed_audio(batch["xa"]), theirs.triplet_net.embedding_net1(batch["xa"]))
        torch.testing.assert_close(ours.embed_text(batch["class_text"]),
                                   theirs.get_classes_embedding(batch["class_text"]))


@needs_avca
def test_cjme_matches_avca_gzsl_classes(avca_modules):
    ours, _ = avca_model("cjme", **SMALL_300)
    theirs = avca_modules["model"].CJME(_their_args()).train()
    theirs.load_state_dict(_to_theirs(ours.state_dict()))
    ours, theirs = ours.double(), theirs.double()  # float64: see test_avgzslnet_matches_avca_gzsl_classes
    batch, b = {k: v.double() for k, v in pair_batch(5, 6, 5, 300).items()}, 5
    our_loss = sum(ours.training_terms(batch).values())
    inputs = (batch["xa"][:b], batch["xv"][:b], batch["xt"][:b], batch["xa"][b:], batch["xv"][b:], batch["xt"][b:])
    outputs = theirs(*inputs)
    classes = theirs.get_classes_embedding(batch["class_text"])
    with pytest.warns(UserWarning):  # their nn.Softmax() without dim
        their_loss, _ = avca_modules["loss"].CJMELoss(margin=1.0, distance_fn=None)(*outputs, classes.detach())
    torch.testing.assert_close(our_loss, their_loss, rtol=1e-5, atol=1e-6)
    our_loss.backward()
    their_loss.backward()
    their_params = dict(theirs.named_parameters())
    for key, value in _to_theirs({k: p.grad for k, p in ours.named_parameters()}).items():
        torch.testing.assert_close(value, their_params[key].grad, rtol=1e-7, atol=1e-9, msg=key)
