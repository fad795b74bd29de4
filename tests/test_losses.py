"""Each loss term against a hand-computed case (1-d embeddings, margin 1)."""

import dataclasses

import pytest
import torch

from avgzsl.models.losses import attention_target, composite_triplet_loss, cross_modal_decoder_loss, triplet
from avgzsl.settings.experiment import LossConfig, preset


def t(x):
    return torch.tensor([[float(x)]])


# a_p=2, t_p=0, a_q=1, t_q=1, v_p=0.5, v_q=3
CASE = dict(a_p=t(2), v_p=t(0.5), t_p=t(0), a_q=t(1), v_q=t(3), t_q=t(1))


def stacked(m):
    """(2, B, E) [p, q] embeddings of one modality, as the model hands them to the losses."""
    return torch.stack([CASE[m + "_p"], CASE[m + "_q"]])


def composite(cfg):
    out = composite_triplet_loss(stacked("a"), stacked("v"), stacked("t"), cfg)
    return {k: round(float(v), 6) for k, v in out.items()}


def test_triplet_euclidean_and_mse_by_hand():
    a, p, n = torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]]), torch.tensor([[0.0, 1.0]])
    assert float(triplet(a, p, n, margin=1.0, kind="euclidean")) == pytest.approx(5 - 1 + 1)
    assert float(triplet(a, p, n, margin=1.0, kind="mse")) == pytest.approx((9 + 16) / 2 - 0.5 + 1)
    assert float(triplet(a, n, p, margin=1.0, kind="euclidean")) == 0.0  # hinge clips at zero


def test_composite_official_has_eight_terms_by_hand():
    # eps = 0 keeps the arithmetic exact; eps itself is checked against torch.nn.TripletMarginLoss below
    assert composite(dataclasses.replace(preset("official").loss, eps=0.0)) == {
        "ta": 2.0, "at": 2.0, "tv": 0.0, "vt": 1.0,
        "ta_mirror": 0.0, "at_mirror": 0.0, "tv_mirror": 2.5, "vt_mirror": 0.0,
    }


def test_composite_paper_has_four_mse_terms_by_hand():
    # MSE in 1-d is the squared difference
    assert composite(preset("paper").loss) == {"ta": 4.0, "at": 4.0, "tv": 0.0, "vt": 1.0}


@pytest.mark.parametrize("off", ["ta", "at", "tv", "vt"])
def test_composite_terms_switch_off(off):
    cfg = LossConfig(**{off: False})
    terms = composite(cfg)
    assert off not in terms and off + "_mirror" not in terms
    assert len(terms) == 6


def test_cross_modal_decoder_by_hand():
    decoder = lambda z: 2 * z  # noqa: E731 - a fixed decoder makes the arithmetic checkable
    x_t = t(1)
    terms = cross_modal_decoder_loss(decoder, stacked("a"), stacked("v"), stacked("t"), x_t, LossConfig(eps=0.0))
    # rec: (0-1)^2 + (4-1)^2 + (1-1)^2 ; cta: anchor 0, pos 4, neg 2 ; ctv: anchor 0, pos 1, neg 6
    assert {k: float(v) for k, v in terms.items()} == {"rec": 10.0, "cta": 3.0, "ctv": 0.0}
    terms = cross_modal_decoder_loss(
        decoder, stacked("a"), stacked("v"), stacked("t"), x_t, LossConfig(distance="mse", rec=False, eps=0.0)
    )
    assert {k: float(v) for k, v in terms.items()} == {"cta": 16 - 4 + 1, "ctv": 0.0}


def test_attention_target_picks_confident_modality():
    confident = torch.tensor([[0.0, 10.0, 10.0]])
    flat = torch.tensor([[1.0, 1.0, 1.0]])
    assert attention_target(confident, flat).item() == 0.0  # audio is sure -> weight on video 0
    assert attention_target(flat, confident).item() == 1.0
    assert attention_target(flat, flat).item() == 0.5


def hand_gradients(anchor, positive, negative, margin, kind):
    """d loss / d (anchor, positive, negative) written out: active rows only, 1/B each."""
    v_p, v_n = anchor - positive, anchor - negative
    if kind == "euclidean":
        d_p, d_n = v_p.norm(dim=1, keepdim=True), v_n.norm(dim=1, keepdim=True)
        u_p = torch.where(d_p > 0, v_p / d_p.clamp_min(1e-300), 0.0)  # 0 at a zero distance, as torch's norm
        u_n = torch.where(d_n > 0, v_n / d_n.clamp_min(1e-300), 0.0)
        gap = d_p - d_n + margin
    else:
        u_p, u_n = 2 * v_p / v_p.shape[1], 2 * v_n / v_n.shape[1]
        gap = (v_p**2).mean(1, keepdim=True) - (v_n**2).mean(1, keepdim=True) + margin
    w = (gap > 0).double() / anchor.shape[0]
    return w * (u_p - u_n), -w * u_p, w * u_n


@pytest.mark.parametrize("kind", ["euclidean", "mse"])
def test_triplet_gradients_by_hand(kind):
    torch.manual_seed(0)
    a, p, n = (torch.randn(30, 7, dtype=torch.float64, requires_grad=True) for _ in range(3))
    with torch.no_grad():
        p[0] = a[0]  # a zero distance: the Euclidean gradient is taken as 0 there
        n[1] = a[1]
    got = torch.autograd.grad(triplet(a, p, n, margin=0.5, kind=kind), [a, p, n])
    for g, w in zip(got, hand_gradients(a.detach(), p.detach(), n.detach(), 0.5, kind)):
        assert torch.allclose(g, w)
    gap = (p - a).norm(dim=1) - (n - a).norm(dim=1) + 0.5
    assert (gap > 0).any() and (gap < 0).any()  # active and inactive rows both occur
    b = (x.detach()[2:].clone().requires_grad_() for x in (a, p, n))
    assert torch.autograd.gradcheck(lambda *t: triplet(*t, margin=0.5, kind=kind), tuple(b))


def test_triplet_rejects_unknown_distance():
    with pytest.raises(ValueError, match="unknown distance"):
        triplet(t(0), t(1), t(2), margin=1.0, kind="cosine")


# --- the `official` preset against torch.nn.TripletMarginLoss, the released code's triplet ---------------------

def _reference_official(z_a, z_v, z_t, decoder, x_t_p, margin):
    """AVGZSLNet's official loss written with torch.nn.TripletMarginLoss (p=2, mean), term by term as the
    released training script combines them: text-anchored and modality-anchored triplets for p and for q,
    and the decoder triplets anchored on the decoded text."""
    crit = torch.nn.TripletMarginLoss(margin=margin, p=2)
    (t_p, t_q), (a_p, a_q), (v_p, v_q) = z_t.unbind(), z_a.unbind(), z_v.unbind()
    out = {}
    for m, (x_p, x_q) in (("a", (a_p, a_q)), ("v", (v_p, v_q))):
        out["t" + m] = crit(t_p, x_p, x_q)
        out["t" + m + "_mirror"] = crit(t_q, x_q, x_p)
        out[m + "t"] = crit(x_p, t_p, t_q)
        out[m + "t_mirror"] = crit(x_q, t_q, t_p)
    rec_t = decoder(t_p)
    out["cta"] = crit(rec_t, decoder(a_p), decoder(a_q))
    out["ctv"] = crit(rec_t, decoder(v_p), decoder(v_q))
    out["rec"] = sum(torch.nn.functional.mse_loss(decoder(z), x_t_p) for z in (t_p, a_p, v_p))
    return out


@pytest.mark.parametrize("scale", [1.0, 1e-4])  # 1e-4: distances near eps, where leaving eps out shows
def test_official_loss_equals_torch_triplet_margin_loss_in_value_and_gradient(scale):
    torch.manual_seed(1)
    b, e, dt = 16, 5, 7
    decoder = torch.nn.Sequential(torch.nn.Linear(e, 6), torch.nn.ReLU(), torch.nn.Linear(6, dt)).double()
    zs = [(scale * torch.randn(2, b, e, dtype=torch.float64)).requires_grad_() for _ in range(3)]
    x_t_p = torch.randn(b, dt, dtype=torch.float64)
    cfg = preset("official").loss
    ours = cross_modal_decoder_loss(decoder, *zs, x_t_p, cfg)
    ours.update(composite_triplet_loss(*zs, cfg))
    ref = _reference_official(*zs, decoder, x_t_p, cfg.margin)
    assert sorted(ours) == sorted(ref)
    for name in ref:
        assert torch.allclose(ours[name], ref[name], rtol=1e-12, atol=0), name
    params = [*zs, *decoder.parameters()]
    got = torch.autograd.grad(sum(ours.values()), params)
    want = torch.autograd.grad(sum(ref.values()), params)
    for g, w in zip(got, want):
        assert torch.allclose(g, w, rtol=1e-9, atol=1e-12)


def test_official_differs_from_torch_without_eps():
    """The comparison above can fail: with eps = 0 the gradients leave TripletMarginLoss's at small distances."""
    torch.manual_seed(2)
    a, p, n = (1e-5 * torch.randn(8, 3, dtype=torch.float64, requires_grad=True) for _ in range(3))
    want = torch.autograd.grad(torch.nn.TripletMarginLoss(margin=1.0)(a, p, n), [a, p, n])
    got = torch.autograd.grad(triplet(a, p, n, margin=1.0, kind="euclidean", eps=0.0), [a, p, n])
    assert not all(torch.allclose(g, w, rtol=1e-6) for g, w in zip(got, want))
    got = torch.autograd.grad(triplet(a, p, n, margin=1.0, kind="euclidean", eps=1e-6), [a, p, n])
    assert all(torch.allclose(g, w, rtol=1e-9) for g, w in zip(got, want))


def test_paper_preset_keeps_the_printed_distance():
    assert preset("paper").loss.eps == 0.0 and preset("official").loss.eps == 1e-6


@pytest.mark.parametrize("eps", [0.0, 1e-6, 0.3])
@pytest.mark.parametrize("kind", ["euclidean", "mse"])
def test_triplet_with_eps_backward_matches_autograd(kind, eps):
    torch.manual_seed(3)
    a, p, n = (torch.randn(12, 4, dtype=torch.float64, requires_grad=True) for _ in range(3))
    assert torch.autograd.gradcheck(lambda *x: triplet(*x, margin=0.5, kind=kind, eps=eps), (a, p, n))
