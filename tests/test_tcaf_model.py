"""TCaF against values computed by hand from their code's rules (TCAF-GZSL src/model_sequence.py, src/dataset.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from avgzsl.formats.sequences import Sequences
from avgzsl.models.registry import create_model
from avgzsl.models.tcaf import attention_mask
from avgzsl.settings.experiment import build_experiment

TINY = {"depth": 1, "heads": 2, "dim_head": 3, "dim": 8, "mlp_dim": 5, "encoder_hidden": 5, "decoder_hidden": 6,
        "embed_dim": 4}


def tiny_model(**options):
    cfg = build_experiment(preset_name="tcaf-ucf-cls", model={
        "kind": "tcaf", "audio_dim": 4, "video_dim": 3, "text_dim": 8, "options": {**TINY, **options}})
    torch.manual_seed(0)
    model = create_model(cfg.model, cfg.loss)
    with torch.no_grad():  # BatchNorm away from identity, so eval mode is a real test of the running statistics
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    return model.eval()


@pytest.mark.parametrize("mode, rows", [
    # tokens [cls, a0, a1 (padded), v0]; True = may attend (ms:107-142)
    ("cross", [[1, 1, 0, 1], [1, 0, 0, 1], [0, 0, 0, 0], [1, 1, 0, 0]]),
    ("self", [[1, 1, 0, 1], [1, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 1]]),
    ("both", [[1, 1, 0, 1], [1, 1, 0, 1], [0, 0, 0, 0], [1, 1, 0, 1]]),
])
def test_attention_mask_by_hand(mode, rows):
    valid = torch.tensor([[True, False, True]])
    assert attention_mask(valid, 2, mode)[0].int().tolist() == rows


def test_fixed_collate_by_hand():
    model = tiny_model(seqlen_test="fixed", maxlen_test=5, trim_test="center")
    len_a, len_v = np.array([7, 2]), np.array([9, 3])
    a = Sequences.from_arrays(np.arange(len_a.sum() * 4, dtype=np.float32).reshape(-1, 4), len_a)
    v = Sequences.from_arrays(np.arange(len_v.sum() * 3, dtype=np.float32).reshape(-1, 3), len_v)
    xa, xv, ma, mv = model.collate({"audio": a, "video": v}, torch.tensor([0, 1]), train=False)
    # video 5 windows; audio round(5 * 0.64 * 0.96) = 3 (ds:700); clip 0: video over by 4 -> start 2 (centre),
    # audio start min(7 - 3, round(2 * 0.64 / 0.96)) = 1 (ds:740-757); clip 1 is padded
    assert xv.shape == (2, 5, 3) and xa.shape == (2, 3, 4)
    assert torch.equal(xv[0], v.values[2:7]) and torch.equal(xa[0], a.values[1:4])
    assert mv[1].tolist() == [True, True, True, False, False] and ma[1].tolist() == [True, True, False]
    assert torch.equal(xv[1, :3], v.values[9:12]) and not xv[1, 3:].any()


def _np(t):
    return t.detach().double().numpy()


def _net(x, seq):
    """An EmbeddingNet in eval mode, layer by layer."""
    for m in seq:
        if isinstance(m, torch.nn.Linear):
            x = x @ _np(m.weight).T + _np(m.bias)
        elif isinstance(m, torch.nn.BatchNorm1d):
            x = (x - _np(m.running_mean)) / np.sqrt(_np(m.running_var) + m.eps) * _np(m.weight) + _np(m.bias)
        elif isinstance(m, torch.nn.ReLU):
            x = np.maximum(x, 0)
    return x


def _layer_norm(x, ln):
    mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + ln.eps) * _np(ln.weight) + _np(ln.bias)


def reference_theta(model, a, v, rate_a, rate_v):
    """theta_o of one clip (no padding), token by token as ms:786-839 computes it."""
    o, e = model.options, model.embed
    a, v = a / 255.0, v / np.linalg.norm(v, axis=0, keepdims=True)  # ms:790-791 (video over time)
    a, v = _net(a, model.A_enc), _net(v, model.V_enc)

    def time_emb(t):
        proj = 2 * math.pi * np.stack([t, t], -1) @ _np(e.fourier_randn)
        return np.concatenate([np.sin(proj), np.cos(proj)], -1) @ _np(e.fourier.weight).T + _np(e.fourier.bias)

    tok = []
    for x, rate, mod, out in ((a, rate_a, 0, e.out_audio), (v, rate_v, 1, e.out_video)):
        emb = time_emb(np.arange(len(x)) * rate) + _np(e.modal.weight)[mod]
        tok.append(np.concatenate([x, emb], -1) @ _np(out.weight).T + _np(out.bias))
    x = np.concatenate([_np(model.cls_token)[0], *tok])  # (1 + Ta + Tv, dim)
    n_a = len(a)
    layer = model.layers[0]
    h = _layer_norm(x, layer.norm)
    q, k, val = (h @ _np(f.weight).T for f in layer.attn.to_qkv)
    heads = []
    for hd in range(o.heads):
        s = slice(hd * o.dim_head, (hd + 1) * o.dim_head)
        out = np.zeros((len(x), o.dim_head))
        for i in range(len(x)):
            # cross-attention only: audio sees cls + video, video sees cls + audio, cls sees all
            allowed = [j for j in range(len(x)) if i == 0 or j == 0 or ((i <= n_a) != (j <= n_a))]
            logits = np.array([q[i, s] @ k[j, s] for j in allowed]) * o.dim_head ** -0.5
            w = np.exp(logits - logits.max())
            out[i] = (w / w.sum()) @ val[allowed, s]
        heads.append(out)
    att = np.concatenate(heads, -1) @ _np(layer.attn.to_out[0].weight).T + _np(layer.attn.to_out[0].bias)
    x = x + att
    ff = layer.ff
    hid = _layer_norm(x, layer.norm) @ _np(ff[0].weight).T + _np(ff[0].bias)
    hid = 0.5 * hid * (1 + np.vectorize(math.erf)(hid / math.sqrt(2)))  # exact GELU
    x = x + hid @ _np(ff[3].weight).T + _np(ff[3].bias)
    return _net(x[:1], model.O_proj)[0]


def test_forward_and_loss_match_a_hand_computation():
    model = tiny_model()
    rng = np.random.default_rng(1)
    len_a, len_v = np.array([3, 2, 2, 4]), np.array([4, 5, 3, 3])
    a = Sequences.from_arrays(rng.integers(0, 256, size=(len_a.sum(), 4)).astype(np.float32), len_a)
    v = Sequences.from_arrays(rng.normal(size=(len_v.sum(), 3)).astype(np.float32), len_v)
    w = torch.randn(4, 8)
    class_text = torch.randn(3, 8)
    batch = {"idx": torch.tensor([0, 1, 2, 3]), "target": torch.tensor([2, 0, 1, 1]), "audio_seq": a,
             "video_seq": v, "xt": w, "class_text": class_text}
    terms = model.training_terms(batch)  # eval mode: no dropout, running BatchNorm statistics; the positives 0, 1

    seqs = [(a.values[a.offsets[i]:a.offsets[i + 1]].double().numpy(), v.values[v.offsets[i]:v.offsets[i + 1]]
             .double().numpy()) for i in range(2)]
    theta_o = np.stack([reference_theta(model, sa, sv, 0.96, 0.64) for sa, sv in seqs])  # training: seconds
    theta_w = _net(_np(w[:2]), model.W_proj)
    scores = theta_o @ _net(_np(class_text), model.W_proj).T
    target = [2, 0]
    ce = np.mean([np.log(np.exp(s).sum()) - s[t] for s, t in zip(scores, target)])
    reg = np.mean((theta_o - theta_w) ** 2)
    rec = np.mean((_net(theta_o, model.D_o) - _np(w[:2])) ** 2) + np.mean((_net(theta_w, model.D_w) - _np(w[:2])) ** 2)
    terms = {k: v.detach() for k, v in terms.items()}
    assert float(terms["ce"]) == pytest.approx(ce, rel=1e-4)
    assert float(terms["reg"]) == pytest.approx(reg, rel=1e-4)
    assert float(terms["rec"]) == pytest.approx(rec, rel=1e-4)

    # evaluation: windows at t = 0, 1, 2, ... (get_embeddings passes no times, ms:970-972), padding masked
    d = model.distances(None, None, None, None, class_text, sequences={"audio": a, "video": v})["both"]
    theta_test = np.stack([reference_theta(model, sa, sv, 1.0, 1.0) for sa, sv in seqs])
    want = np.linalg.norm(theta_test[:, None] - _net(_np(class_text), model.W_proj)[None], axis=-1)
    np.testing.assert_allclose(d[:2].numpy(), want, rtol=1e-4, atol=1e-5)


def test_presets_carry_their_best_configs():
    cfg = build_experiment(preset_name="tcaf-activitynet-main", model={"kind": "tcaf", "options": {"depth": 2}})
    o, t = cfg.model.options, cfg.train
    assert (o["heads"], o["dim_head"], o["encoder_hidden"], o["depth"]) == (3, 128, 128, 2)  # best_anet.yaml (main)
    assert (o["seqlen_train"], o["rate_audio"], o["rate_video"]) == ("fixed", 1.0, 1.0)
    assert (t.lr, t.batch_size, t.batches_per_epoch, t.epochs, t.lr_schedule) == (7e-5, 64, 300, 50, "plateau")
    with pytest.raises(ValueError, match="needs model.kind tcaf"):
        build_experiment(preset_name="tcaf-ucf-cls", model={"kind": "avca"})


def test_extra_embedding_pass_moves_only_batch_norm_statistics():
    model = tiny_model().train()
    rng = np.random.default_rng(2)
    lengths = np.array([2, 3, 1, 2])
    a = Sequences.from_arrays(rng.normal(size=(lengths.sum(), 4)).astype(np.float32), lengths)
    v = Sequences.from_arrays(rng.normal(size=(lengths.sum(), 3)).astype(np.float32), lengths)
    batch = {"idx": torch.arange(4), "audio_seq": a, "video_seq": v, "xt": torch.randn(4, 8)}
    before = {k: t.clone() for k, t in model.state_dict().items()}
    model.extra_embedding_pass(batch)
    changed = {k for k, t in model.state_dict().items() if not torch.equal(t, before[k])}
    assert changed and all("running" in k or "num_batches" in k for k in changed)
