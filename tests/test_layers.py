"""The projection layers: the bit-mask dropout and the fused Linear -> dropout -> ReLU node."""

import pytest
import torch
import torch.nn as nn

from avgzsl.layers import BitMaskDropout, create_projection, linear_dropout_relu


def test_bit_mask_dropout_rate_scale_and_eval_identity():
    d = BitMaskDropout(0.5)
    x = torch.ones(200, 500)
    y = d.train()(x)
    kept = (y != 0).float().mean().item()
    assert abs(kept - 0.5) < 0.01 and set(y.unique().tolist()) == {0.0, 2.0}
    assert torch.equal(d.eval()(x), x)


def test_bit_mask_bits_are_independent_and_unbiased():
    torch.manual_seed(0)
    kept = BitMaskDropout(0.5).mask(torch.Size((4000, 256)), dtype=torch.float32, device=torch.device("cpu")) > 0
    flat = kept.view(-1, 64).float()  # one 64-bit draw per row
    assert (flat.mean(0) - 0.5).abs().max() < 0.02  # every bit position of the draw is fair
    for lag in (1, 8, 64):  # neighbours within a byte, across bytes, across draws
        both = (kept.view(-1)[:-lag] & kept.view(-1)[lag:]).float().mean().item()
        assert abs(both - 0.25) < 0.005


def test_other_rates_fall_back_to_uniform_draws():
    d = BitMaskDropout(0.3).train()
    y = d(torch.ones(300, 400))
    assert abs((y != 0).float().mean().item() - 0.7) < 0.01
    assert torch.allclose(y[y != 0], torch.tensor(1 / 0.7))


def test_masks_follow_the_seed():
    d = BitMaskDropout(0.5).train()
    torch.manual_seed(3)
    a = d(torch.ones(64, 100))
    torch.manual_seed(3)
    assert torch.equal(a, d(torch.ones(64, 100)))


@pytest.mark.parametrize("p", [0.5, 0.3])
def test_fused_layer_matches_autograd_of_the_plain_layers(p, monkeypatch):
    torch.manual_seed(0)
    linear, dropout = nn.Linear(12, 9).double(), BitMaskDropout(p)
    x = torch.randn(40, 12, dtype=torch.float64, requires_grad=True)
    mask = dropout.mask(torch.Size((40, 9)), dtype=torch.float64, device=torch.device("cpu"))
    monkeypatch.setattr(dropout, "mask", lambda *args, **kwargs: mask)
    fused = linear_dropout_relu(x, linear, dropout)
    grad_out = torch.randn_like(fused)
    got = torch.autograd.grad(fused, [x, linear.weight, linear.bias], grad_out)
    plain = torch.relu(linear(x) * mask)
    want = torch.autograd.grad(plain, [x, linear.weight, linear.bias], grad_out)
    assert torch.allclose(fused, plain)
    for g, w in zip(got, want):
        assert torch.allclose(g, w)
    assert (fused == 0).any() and (fused > 0).any()  # both branches of the ReLU and the mask were exercised


def test_projection_is_a_plain_sequential_outside_training():
    torch.manual_seed(0)
    proj = create_projection(in_dim=16, hidden_dim=8, out_dim=4, dropout=0.5).eval()
    x = torch.randn(5, 16)
    assert torch.equal(proj(x), proj[3](torch.relu(proj[0](x))))
    assert list(proj.state_dict()) == ["0.weight", "0.bias", "3.weight", "3.bias"]
    no_dropout = create_projection(in_dim=16, hidden_dim=8, out_dim=4, dropout=0.0).train()
    assert torch.equal(no_dropout(x), no_dropout[3](torch.relu(no_dropout[0](x))))
