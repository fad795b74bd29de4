"""AVCA (model.kind: avca): forward and loss by hand, against AVCA-GZSL's own class, training, presets, CLI.

The comparison with their class runs when AVCA_GZSL_REPO names a checkout of their repository (the folder
holding src/model_improvements.py); it is skipped otherwise.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from avca_helpers import run_by_hand, spread_batch_norm_affine

from avgzsl.models.registry import create_model
from avgzsl.settings.experiment import AVCA_MODEL_PRESETS, build_experiment

AVCA_REPO = Path(os.environ["AVCA_GZSL_REPO"]) if os.environ.get("AVCA_GZSL_REPO") else None
needs_avca = pytest.mark.skipif(
    AVCA_REPO is None or not (AVCA_REPO / "src" / "model_improvements.py").is_file(),
    reason="set AVCA_GZSL_REPO to a checkout of AVCA-GZSL to compare with their AVCA class",
)

SMALL = {"kind": "avca", "audio_dim": 6, "video_dim": 5, "text_dim": 300, "hidden_dim": 8,
         "decoder_hidden_dim": 7, "embed_dim": 4, "dropout": 0.0, "decoder_dropout": 0.0, "additional_dropout": 0.0}


def avca(preset="avca-ucf-main", **model):
    cfg = build_experiment(preset_name=preset, model={**SMALL, **model})
    torch.manual_seed(0)
    net = create_model(cfg.model, cfg.loss)
    spread_batch_norm_affine(net)
    return net.train(), cfg


def pair_batch(b=4, da=6, dv=5, dt=300, seed=1) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"xa": torch.randn(2 * b, da, generator=g), "xv": torch.randn(2 * b, dv, generator=g),
            "xt": torch.randn(2 * b, dt, generator=g)}


# ------------------------------------------------------------------ by hand


def _layer_norm(x, ln):
    return (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + ln.eps) * ln.weight + ln.bias


def _heads(t):  # (B, 2, 300) -> (B, 3 heads, 2 tokens, 100)
    return t.reshape(t.shape[0], 2, 3, 100).permute(0, 2, 1, 3)


def _cross_attention(net, phi_a, phi_v):
    x = torch.stack((phi_a + net.position[0], phi_v + net.position[1]), dim=1)  # (B, 2, 300)
    for layer in net.cross_attention.layers:
        q, k, v = (_layer_norm(x, layer["attn_norm"]) @ layer["attn"].qkv.weight.t()).split(300, dim=-1)
        w = torch.softmax(_heads(q) @ _heads(k).transpose(-1, -2) / 10.0, dim=-1)  # scale 1 / sqrt(100)
        out = (w @ _heads(v)).permute(0, 2, 1, 3).reshape(x.shape[0], 2, 300)
        x = x + out @ layer["attn"].out[0].weight.t() + layer["attn"].out[0].bias
        ff = layer["ff"]
        h = F.gelu(_layer_norm(x, layer["ff_norm"]) @ ff[0].weight.t() + ff[0].bias)
        x = x + h @ ff[3].weight.t() + ff[3].bias
    return phi_a + x[:, 0], phi_v + x[:, 1]


def _hinge(a, p, n):  # nn.TripletMarginLoss(margin=1): |a - x + 1e-6|
    return F.relu((a - p + 1e-6).norm(dim=1) - (a - n + 1e-6).norm(dim=1) + 1.0).mean()


def test_avca_loss_matches_hand_computation():
    net, _ = avca()
    batch = pair_batch()
    terms = net.training_terms(batch)
    b = 4
    pos, neg = {}, {}
    for half, out in ((slice(0, b), pos), (slice(b, None), neg)):
        out["phi_a"], out["phi_v"] = run_by_hand(net.audio_enc, batch["xa"][half]), run_by_hand(net.video_enc, batch["xv"][half])
        out["w"] = batch["xt"][half]
        out["theta_w"] = run_by_hand(net.text_proj, out["w"])
        att_a, att_v = _cross_attention(net, out["phi_a"], out["phi_v"])
        out["theta_a"], out["theta_v"] = run_by_hand(net.audio_proj, att_a), run_by_hand(net.video_proj, att_v)
        out["rho_a"], out["rho_v"] = run_by_hand(net.decoder, out["theta_a"]), run_by_hand(net.decoder, out["theta_v"])
    rho_w = run_by_hand(net.decoder, pos["theta_w"])
    mse = F.mse_loss
    ta, tv, tw = pos["theta_a"], pos["theta_v"], pos["theta_w"]
    expected = {
        "rec": mse(pos["w"], pos["rho_v"]) + mse(pos["w"], pos["rho_a"]) + mse(pos["w"], rho_w),
        "ct": _hinge(rho_w, pos["rho_a"], neg["rho_a"]) + _hinge(rho_w, pos["rho_v"], neg["rho_v"]),
        "w": (_hinge(tw, tv, neg["theta_v"]) + _hinge(tw, ta, neg["theta_a"]) + _hinge(ta, tw, neg["theta_w"])
              + _hinge(tv, tw, neg["theta_w"])),
        "t": (_hinge(ta, tw, neg["theta_a"]) + _hinge(tv, tw, neg["theta_v"]) + _hinge(tw, ta, neg["theta_w"])
              + _hinge(tw, tv, neg["theta_w"])),
        "reg": (mse(run_by_hand(net.video_rec, tv), pos["phi_v"]) + mse(run_by_hand(net.audio_rec, ta), pos["phi_a"])
                + mse(tv, tw) + mse(ta, tw)),
    }
    assert set(terms) == set(expected)
    for name, value in expected.items():
        torch.testing.assert_close(terms[name], value, rtol=1e-4, atol=1e-5, msg=f"term {name}")


def _half_by_half(net, batch) -> dict:
    """AVCA's forward (mi:209-252) as their code runs it: every net called on each half in turn, module calls."""
    b = batch["xa"].shape[0] // 2
    o, neg = {}, {}
    for half, out in ((slice(0, b), o), (slice(b, None), neg)):
        out["phi_a"], out["phi_v"] = net.audio_enc(batch["xa"][half]), net.video_enc(batch["xv"][half])
        out["w"] = batch["xt"][half]
        out["theta_w"] = net.text_proj(out["w"])
    o["rho_w"], _ = net.decoder(o["theta_w"]), net.decoder(neg["theta_w"])
    for out in (o, neg):
        tokens = torch.stack((out["phi_a"] + net.position[0], out["phi_v"] + net.position[1]), dim=1)
        out["att"] = net.cross_attention(tokens)
    for out in (o, neg):
        out["theta_v"] = net.video_proj(out["phi_v"] + out["att"][:, 1])
    for out in (o, neg):
        out["theta_a"] = net.audio_proj(out["phi_a"] + out["att"][:, 0])
    o["phi_v_rec"], o["phi_a_rec"] = net.video_rec(o["theta_v"]), net.audio_rec(o["theta_a"])
    net.audio_proj(o["phi_a_rec"]), net.video_proj(o["phi_v_rec"])
    for m in "av":
        o[f"rho_{m}"], o[f"rho_{m}_neg"] = net.decoder(o[f"theta_{m}"]), net.decoder(neg[f"theta_{m}"])
    o.update({f"{k}_neg": neg[k] for k in ("theta_w", "theta_a", "theta_v")})
    return o


def test_batched_forward_equals_half_by_half_calls(monkeypatch):
    """One call per net over both halves (BatchNorm per half) gives AVCA's loss, gradients and running
    statistics, in float64 to 1e-9."""
    import copy

    ours, _ = avca()
    ours.double()
    theirs = copy.deepcopy(ours)
    batch = {k: v.double() for k, v in pair_batch(b=6).items()}
    monkeypatch.setattr(theirs, "forward_pair", lambda batch: _half_by_half(theirs, batch))
    got, want = ours.training_terms(batch), theirs.training_terms(batch)
    assert set(got) == set(want)
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-9, atol=1e-12, msg=f"term {name}")
    sum(got.values()).backward(), sum(want.values()).backward()
    for (name, a), b in zip(ours.named_parameters(), theirs.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-9, atol=1e-12, msg=name)
    for (name, a), b in zip(ours.named_buffers(), theirs.buffers()):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=0, msg=name)


def test_loss_switches_drop_their_terms():
    net, _ = avca()
    net.loss_cfg.avca_additional_triplets, net.loss_cfg.avca_reg_loss = False, False
    assert set(net.training_terms(pair_batch())) == {"rec", "ct", "w"}


def test_video_branch_scoring_reports_the_video_scores_as_all_three():
    net, _ = avca()
    net.eval()
    g = torch.Generator().manual_seed(5)
    xa, xv, xt = torch.randn(5, 6, generator=g), torch.randn(5, 5, generator=g), torch.randn(3, 300, generator=g)
    ones = torch.ones(5, dtype=torch.bool)
    per = net.distances(xa, xv, ones, ones, xt)
    z_a, z_v = net.embed(xa, xv)
    t = net.embed_text(xt)
    torch.testing.assert_close(per["audio"], torch.cdist(z_a, t))
    torch.testing.assert_close(per["video"], torch.cdist(z_v, t))
    torch.testing.assert_close(per["both"], 0.5 * (per["audio"] + per["video"]))
    assert not torch.allclose(per["audio"], per["video"])
    net.model_cfg.avca_scoring = "video_branch"
    theirs = net.distances(xa, xv, ones, ones, xt)
    for modality in ("audio", "video", "both"):
        torch.testing.assert_close(theirs[modality], per["video"])


# ------------------------------------------------------------------ presets and config


@pytest.mark.parametrize("name", AVCA_MODEL_PRESETS)
def test_presets_follow_the_run_scripts(name):
    cfg = build_experiment(preset_name=name, model={"kind": "avca"})
    m, t = cfg.model, cfg.train
    assert (m.hidden_dim, m.decoder_hidden_dim, m.embed_dim, m.attention_depth) == (512, 512, 64, 1)
    assert (t.optimizer, t.lr, t.weight_decay, t.epochs, t.batches_per_epoch) == ("adam", 1e-3, 1e-5, 50, 500)
    assert cfg.loss.avca_additional_triplets and cfg.loss.avca_reg_loss
    assert t.batch_size == (64 if name == "avca-vggsound-main" else 256)
    assert m.bn_momentum == (0.1 if name in ("avca-vggsound-main", "avca-ucf-main") else 0.99)


@pytest.mark.parametrize("preset, model, error", [
    ("avca", {"kind": "avca"}, "avca-<dataset>"),
    ("avca-ucf-main", {"kind": "avca", "avca_scoring": "audio"}, "avca_scoring"),
    ("avca-ucf-main", {"kind": "avca", "attention_depth": 0}, "attention_depth"),
])
def test_bad_avca_settings_name_the_key(preset, model, error):
    with pytest.raises(ValueError, match=error.replace("<dataset>", "")):
        build_experiment(preset_name=preset, model=model)


# ------------------------------------------------------------------ training


def test_training_lowers_the_loss_on_synthetic_features():
    from avgzsl.datasets.synthetic import SyntheticConfig, synthetic_splits
    from avgzsl.training.train import train_model

    splits = synthetic_splits(SyntheticConfig(n_classes=10, n_seen=7, clips_per_class={"trn": 20, "val": 5, "tst": 5},
                                              audio_dim=32, video_dim=24, text_dim=300, seed=2))
    cfg = build_experiment(preset_name="avca-ucf-main", model={"kind": "avca", "audio_dim": 32, "video_dim": 24},
                           train={"epochs": 6, "batches_per_epoch": 5, "batch_size": 32, "select_epoch": False,
                                  "lr_schedule": "none"})
    result = train_model(cfg, splits["trn"], None, select=False, progress=False)
    losses = [row["loss"] for row in result.history]
    assert losses[-1] < losses[0]


# ------------------------------------------------------------------ AVCA-GZSL's own class


def _stub_einops(monkeypatch):
    """Their Attention uses einops.rearrange for two fixed patterns; written out here when einops is absent."""
    if importlib.util.find_spec("einops") is not None:
        return

    def rearrange(t, pattern, h=None):
        if pattern == "b n (h d) -> b h n d":
            return t.reshape(t.shape[0], t.shape[1], h, -1).transpose(1, 2)
        if pattern == "b h n d -> b n (h d)":
            return t.transpose(1, 2).reshape(t.shape[0], t.shape[2], -1)
        raise NotImplementedError(pattern)

    einops = types.ModuleType("einops")
    einops.rearrange, einops.repeat = rearrange, None
    einops.layers = types.ModuleType("einops.layers")
    einops.layers.torch = types.ModuleType("einops.layers.torch")
    einops.layers.torch.Rearrange = None
    for name, module in (("einops", einops), ("einops.layers", einops.layers), ("einops.layers.torch", einops.layers.torch)):
        monkeypatch.setitem(sys.modules, name, module)


@pytest.fixture
def their_avca(monkeypatch):
    _stub_einops(monkeypatch)
    if importlib.util.find_spec("torchvision") is None:
        stub = types.ModuleType("torchvision")
        stub.models = types.ModuleType("torchvision.models")
        monkeypatch.setitem(sys.modules, "torchvision", stub)
        monkeypatch.setitem(sys.modules, "torchvision.models", stub.models)
    src = types.ModuleType("src")  # `import src.utils_improvements` (imported, unused by the class)
    src.utils_improvements = types.ModuleType("src.utils_improvements")
    monkeypatch.setitem(sys.modules, "src", src)
    monkeypatch.setitem(sys.modules, "src.utils_improvements", src.utils_improvements)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau  # torch 2.7 dropped `verbose`, which their class passes
    monkeypatch.setattr(torch.optim.lr_scheduler, "ReduceLROnPlateau",
                        lambda *a, verbose=None, **k: plateau(*a, **k))
    spec = importlib.util.spec_from_file_location("avca_src_model_improvements",
                                                  AVCA_REPO / "src" / "model_improvements.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.AVCA


THEIR_NAMES = [("A_enc.fc.", "audio_enc."), ("V_enc.fc.", "video_enc."), ("W_proj.fc.", "text_proj."),
               ("D.fc.", "decoder."), ("A_proj.fc.", "audio_proj."), ("V_proj.fc.", "video_proj."),
               ("A_rec.fc.", "audio_rec."), ("V_rec.fc.", "video_rec."), ("pos_emb1D", "position"),
               ("cross_attention.layers.0.0.norm.", "cross_attention.layers.0.attn_norm."),
               ("cross_attention.layers.0.0.fn.to_qkv.", "cross_attention.layers.0.attn.qkv."),
               ("cross_attention.layers.0.0.fn.to_out.", "cross_attention.layers.0.attn.out."),
               ("cross_attention.layers.0.1.norm.", "cross_attention.layers.0.ff_norm."),
               ("cross_attention.layers.0.1.fn.net.", "cross_attention.layers.0.ff.")]


def _ours(key: str) -> str:
    theirs, ours = next((t, o) for t, o in THEIR_NAMES if key.startswith(t))
    return ours + key[len(theirs):]


@needs_avca
@pytest.mark.parametrize("preset", ["avca-ucf-main", "avca-activitynet-main"])
def test_matches_their_avca_class(their_avca, preset, capsys):
    net, cfg = avca(preset)
    m = cfg.model
    params = {"dim_out": m.embed_dim, "encoder_hidden_size": m.hidden_dim, "decoder_hidden_size": m.decoder_hidden_dim,
              "dropout_encoder": 0.0, "dropout_decoder": 0.0, "depth_transformer": 1, "additional_triplets_loss": True,
              "reg_loss": True, "additional_dropout": 0.0, "momentum": m.bn_momentum, "first_additional_triplet": 1,
              "second_additional_triplet": 1, "lr": 1e-3}
    theirs = their_avca(params, input_size_audio=6, input_size_video=5)
    ours_state = net.state_dict()
    theirs.load_state_dict({k: ours_state[_ours(k)].clone() for k in theirs.state_dict()})
    theirs.train()
    batch = pair_batch()
    b = 4
    loss, _ = theirs.optimize_params(batch["xa"][:b], batch["xv"][:b], None, batch["xt"][:b], batch["xa"][b:],
                                     batch["xv"][b:], batch["xt"][b:], optimize=False)
    ours = torch.stack(list(net.training_terms(batch).values())).sum()
    torch.testing.assert_close(ours, loss, rtol=1e-5, atol=1e-6)
    # the same calls per net in the same order: identical running statistics, so identical eval embeddings
    after = theirs.state_dict()
    for key, value in net.state_dict().items():
        if "running" in key:
            their_key = next(k for k in after if _ours(k) == key)
            torch.testing.assert_close(value, after[their_key], msg=key)
    net.eval(), theirs.eval()
    z_a, z_v, z_t = theirs.get_embeddings(batch["xa"], batch["xv"], batch["xt"])
    o_a, o_v = net.embed(batch["xa"], batch["xv"])
    torch.testing.assert_close(o_a, z_a), torch.testing.assert_close(o_v, z_v)
    torch.testing.assert_close(net.embed_text(batch["xt"]), z_t)


# ------------------------------------------------------------------ through the CLI on an imported benchmark


@pytest.mark.parametrize("scoring", ["per_modality", "video_branch"])
def test_cli_trains_avca_on_an_imported_benchmark(tmp_path, scoring):
    import json

    import numpy as np
    from avca_helpers import write_class_split, write_released_features

    from avgzsl.cli import main

    cs = write_class_split(tmp_path / "lists", "ucf-gzsl")
    write_released_features(tmp_path / "rel", cs, "ucf-gzsl", "main")
    out = tmp_path / "imported"
    assert main(["import-benchmark", str(tmp_path / "rel"), str(out), "--dataset", "ucf-gzsl", "--variant", "main",
                 "--split-lists", str(tmp_path / "lists"), "--no-verify"]) == 0
    shards = [a for m in ("audio", "video") for a in (f"--{m}", *(str(out / m / f"{s}.h5") for s in ("trn", "val", "tst")))]
    run = tmp_path / "run"
    assert main(["train", "--manifest", str(out / "manifest.csv"), "--classes", str(out / "classes.tsv"),
                 "--text", str(out / "text.h5"), *shards, "--stage1-classes", str(out / "classes_stage1.tsv"),
                 "--out", str(run), "--quiet", "--preset", "avca-ucf-main", "--set", "model.kind=avca",
                 "--set", f"model.avca_scoring={scoring}", "--set", "train.epochs=2",
                 "--set", "train.batches_per_epoch=3", "--set", "train.batch_size=8"]) == 0
    metrics = json.loads((run / "seed0" / "metrics.json").read_text())
    assert set(metrics["classification"]) >= {"audio", "video", "both"}
    with np.load(run / "seed0" / "scores.npz") as scores:
        d = {m: scores[f"distances_{m}"] for m in ("audio", "video", "both")}
        same = np.allclose(d["audio"], d["video"]) and np.allclose(d["both"], d["video"])
        assert same == (scoring == "video_branch")
