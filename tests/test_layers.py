"""The projection layers: the bit-mask dropout, the plain projection, the blockwise BatchNorm node."""

import pytest
import torch
import torch.nn as nn

from avgzsl.models.layers import BitMaskDropout, blockwise_forward, create_projection


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


def test_projection_trains_as_linear_dropout_relu_linear():
    """In training the projection is relu(dropout(linear(x))) then the output Linear, with the dropout's mask."""
    torch.manual_seed(0)
    proj = create_projection(in_dim=16, hidden_dim=8, out_dim=4, dropout=0.5).train()
    x = torch.randn(30, 16)
    torch.manual_seed(1)
    got = proj(x)
    torch.manual_seed(1)
    mask = proj[1].mask(torch.Size((30, 8)), dtype=torch.float32, device=torch.device("cpu"))
    assert torch.equal(got, proj[3](torch.relu(proj[0](x) * mask)))
    assert (mask == 0).any() and (mask == 2).any()


def test_projection_is_a_plain_sequential_outside_training():
    torch.manual_seed(0)
    proj = create_projection(in_dim=16, hidden_dim=8, out_dim=4, dropout=0.5).eval()
    x = torch.randn(5, 16)
    assert torch.equal(proj(x), proj[3](torch.relu(proj[0](x))))
    assert list(proj.state_dict()) == ["0.weight", "0.bias", "3.weight", "3.bias"]
    no_dropout = create_projection(in_dim=16, hidden_dim=8, out_dim=4, dropout=0.0).train()
    assert torch.equal(no_dropout(x), no_dropout[3](torch.relu(no_dropout[0](x))))


# --- blockwise_forward: one call over row blocks, BatchNorm per block -------------------------------------------


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_keep_mask_rate(p):
    torch.manual_seed(0)
    keep = BitMaskDropout(p).keep(torch.Size((500, 400)), dtype=torch.float32, device=torch.device("cpu"))
    assert set(keep.unique().tolist()) == {0.0, 1.0}
    sd = ((1 - p) * p / keep.numel()) ** 0.5
    assert abs(keep.mean().item() - (1 - p)) < 5 * sd


def _bn_net(p: float, momentum):
    """Linear -> BN -> ReLU -> Dropout -> Linear -> BN (no ReLU after it) -> Linear -> ReLU, float64."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 9), nn.BatchNorm1d(9, momentum=momentum), nn.ReLU(), BitMaskDropout(p),
                        nn.Linear(9, 5), nn.BatchNorm1d(5), nn.Linear(5, 4), nn.ReLU()).double()
    with torch.no_grad():
        for bn in (net[1], net[5]):
            bn.weight.uniform_(0.5, 1.5), bn.bias.uniform_(-0.5, 0.5)
    return net.train()


@pytest.mark.parametrize("p, momentum, blocks", [(0.0, 0.1, 2), (0.3, 0.1, 3), (0.5, None, 2), (0.8, 0.99, 1)])
def test_blockwise_forward_equals_one_call_per_block(p, momentum, blocks, monkeypatch):
    """Output, every gradient, running statistics and num_batches_tracked of separate calls per block."""
    import copy

    ours = _bn_net(p, momentum)
    reference = copy.deepcopy(ours)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(5 * blocks, 6, generator=g, dtype=torch.float64)
    x[5:] += 2.0  # blocks of different means: one BatchNorm over all rows would give other values
    keep = (torch.rand(5 * blocks, 9, generator=g) > p).double()
    monkeypatch.setattr(ours[3], "keep", lambda shape, **kwargs: keep)
    out = nn.functional.linear  # reference: the plain layers, block by block, with the same dropout mask
    want = []
    for k, x_k in enumerate(x.chunk(blocks)):
        h = torch.relu(reference[1](reference[0](x_k))) * keep[5 * k:5 * (k + 1)] / (1 - p)
        want.append(torch.relu(reference[6](reference[5](out(h, reference[4].weight, reference[4].bias)))))
    want = torch.cat(want)
    got = blockwise_forward(ours, x, blocks)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    grad_out = torch.randn(want.shape, generator=g, dtype=torch.float64)
    got.backward(grad_out), want.backward(grad_out)
    for (name, a), b in zip(ours.named_parameters(), reference.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-12, msg=name)
    for (name, a), b in zip(ours.named_buffers(), reference.buffers()):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=0, msg=name)
    assert int(ours[1].num_batches_tracked) == blocks


def test_blockwise_forward_in_evaluation_is_the_plain_net():
    net = _bn_net(0.5, 0.1).eval()
    x = torch.randn(8, 6, dtype=torch.float64)
    torch.testing.assert_close(blockwise_forward(net, x, 2), net(x))


def test_blockwise_forward_names_an_unexpected_layer():
    with pytest.raises(TypeError, match="Tanh"):
        blockwise_forward(nn.Sequential(nn.Linear(3, 3), nn.Tanh()).train(), torch.randn(4, 3), 2)
