"""The projection nets' layers.

F_A and F_V are Linear -> Dropout -> ReLU -> Linear (the released code's choice), plain torch layers.
`BitMaskDropout` draws the Bernoulli mask from random bits instead of one float per element, which on a CPU
epoch is worth its code (benchmarks/README.md, "Hand-written kernels").

The BatchNorm nets (AVCA's and AVCA-GZSL's) are called on several inputs whose batch statistics must stay
apart (positives and negatives, the decoder's inputs). `blockwise_forward` runs such calls as one: each
Linear once over all rows (one product and one weight gradient instead of several and their sum), and
BatchNorm -> ReLU -> Dropout as one autograd node that normalises each row block by its own statistics and
moves the running statistics block by block in call order.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn as nn
import torch.nn.functional as F


class BitMaskDropout(nn.Dropout):
    """nn.Dropout with a cheaper mask: at p = 0.5, each random bit of a 64-bit draw is one element's mask.

    The mask is the same Bernoulli(1 - p) mask, scaled by 1 / (1 - p) as in nn.Dropout. It needs one random
    bit per element where bernoulli_ and rand_like need a float each, which made mask drawing a visible part
    of a CPU epoch (benchmarks/README.md has the numbers). Other rates draw one uniform per element.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__(p, inplace)
        bits = (torch.arange(256)[:, None] >> torch.arange(8)) & 1  # (256, 8): the bits of every byte value
        self.register_buffer("byte_masks", bits.float() / (1.0 - p) if p == 0.5 else None, persistent=False)
        self.register_buffer("byte_bits", bits.float() if p == 0.5 else None, persistent=False)

    def mask(self, shape: torch.Size, *, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """A fresh mask: 0 for a dropped element, 1 / (1 - p) for a kept one."""
        if self.byte_masks is None:
            keep = 1.0 - self.p  # uniforms drawn in float32 whatever `dtype` is: a bfloat16 draw is coarser
            return ((torch.rand(shape, device=device) < keep) / keep).to(dtype)
        n = shape.numel()
        words = torch.empty((n + 63) // 64, dtype=torch.int64, device=device).random_(-(2**63), None)
        codes = words.view(torch.uint8).long()  # (n / 8,) bytes, 8 mask bits each
        return self.byte_masks.index_select(0, codes).view(-1)[:n].view(shape).to(dtype)  # (n / 8, 8) -> shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        mask = self.mask(x.shape, dtype=x.dtype, device=x.device)
        return x.mul_(mask) if self.inplace else x * mask

    def keep(self, shape: torch.Size, *, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """A fresh unscaled mask: 1 for a kept element, 0 for a dropped one (one random bit per element at
        p = 0.5, else 32: P(u < round((1 - p) 2^32)) is 1 - p to within 2^-33 for 32 random bits u, closer
        than the 2^-24 steps of a float32 uniform draw)."""
        n = shape.numel()
        if self.byte_bits is not None:
            words = torch.empty((n + 63) // 64, dtype=torch.int64, device=device).random_(-(2**63), None)
            return self.byte_bits.index_select(0, words.view(torch.uint8).long()).view(-1)[:n].view(shape).to(dtype)
        words = torch.empty((n + 1) // 2, dtype=torch.int64, device=device).random_(-(2**63), None)
        u = words.view(torch.int32)[:n].view(shape)  # uniform on [-2^31, 2^31)
        # written straight as floats: a bool mask would be cast to the activations' dtype on every use
        return torch.lt(u, round((1.0 - self.p) * 2**32) - 2**31, out=torch.empty(shape, dtype=dtype, device=device))


class _BlockBatchNormReLU(torch.autograd.Function):
    """relu(BatchNorm(block)) * keep * scale for each row block of x, BatchNorm in training mode with each
    block's own statistics, as one autograd node; see _batch_norm_relu_dropout.

    The dropout scale s is folded into the affine parameters (relu(s y) = s relu(y) for s > 0), and the
    backward pass reads only the output for ReLU and dropout: out > 0 marks the elements that pass gradient.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, bn: nn.BatchNorm1d, keep, scale: float, blocks: int):
        w, b = (weight * scale, bias * scale) if scale != 1.0 else (weight, bias)
        if bn.track_running_stats and bn.momentum is not None:  # as nn.BatchNorm1d.forward in training mode
            bn.num_batches_tracked.add_(blocks)
        outs, stats = [], []
        for x_k in x.chunk(blocks):
            momentum = bn.momentum or 0.0
            if bn.track_running_stats and bn.momentum is None:  # cumulative average: 1 / calls so far
                bn.num_batches_tracked.add_(1)
                momentum = 1.0 / float(bn.num_batches_tracked)
            out_k, mean_k, invstd_k = torch.native_batch_norm(x_k, w, b, bn.running_mean, bn.running_var, True,
                                                              momentum, bn.eps)
            outs.append(out_k)
            stats += (mean_k, invstd_k)
        out = torch.cat(outs) if blocks > 1 else outs[0]
        if keep is not None:
            out.mul_(keep)
        out.relu_()
        ctx.save_for_backward(x, w, out, *stats)
        ctx.scale, ctx.blocks, ctx.eps = scale, blocks, bn.eps
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, w, out, *stats = ctx.saved_tensors
        g = torch.ops.aten.threshold_backward(grad_out, out, 0)
        mask = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], ctx.needs_input_grad[2]]
        grads = [torch.ops.aten.native_batch_norm_backward(g_k, x_k, w, None, None, stats[2 * k], stats[2 * k + 1],
                                                           True, ctx.eps, mask)
                 for k, (g_k, x_k) in enumerate(zip(g.chunk(ctx.blocks), x.chunk(ctx.blocks)))]
        grad_x = (torch.cat([gr[0] for gr in grads]) if ctx.blocks > 1 else grads[0][0]) if mask[0] else None
        grad_w, grad_b = grads[0][1], grads[0][2]  # fresh tensors: summed in place
        for _, gw_k, gb_k in grads[1:]:
            grad_w = grad_w.add_(gw_k) if mask[1] else None
            grad_b = grad_b.add_(gb_k) if mask[2] else None
        if ctx.scale != 1.0:  # d/d gamma of (s gamma) is s
            grad_w, grad_b = (g if g is None else g.mul_(ctx.scale) for g in (grad_w, grad_b))
        return grad_x, grad_w, grad_b, None, None, None, None


def _batch_norm_relu_dropout(h, bn: nn.BatchNorm1d, dropout: nn.Dropout | None, blocks: int) -> torch.Tensor:
    """dropout(relu(bn(block))) of each of h's `blocks` row blocks, as `blocks` calls in order would compute it:
    each block is normalised by its own statistics and moves the running statistics (and
    num_batches_tracked) in turn, as nn.BatchNorm1d does in training mode."""
    p = dropout.p if dropout is not None and dropout.training else 0.0
    keep = None
    if p:
        keep = dropout.keep(h.shape, dtype=h.dtype, device=h.device) if isinstance(dropout, BitMaskDropout) else (
            (torch.rand_like(h) < 1.0 - p).to(h.dtype))
    return _BlockBatchNormReLU.apply(h, bn.weight, bn.bias, bn, keep, 1.0 / (1.0 - p), blocks)


def blockwise_forward(net: nn.Sequential, x: torch.Tensor, blocks: int = 1) -> torch.Tensor:
    """A Linear / BatchNorm1d / ReLU / Dropout net on x's `blocks` equal row blocks, as if each block went
    through `net` in its own call, in block order: (N, in) -> (N, out).

    Linear, ReLU and Dropout act on rows, so they run once on all rows (one product instead of `blocks`, and
    one weight gradient instead of a sum of `blocks`); only BatchNorm treats the blocks apart. In training,
    every BatchNorm -> ReLU -> Dropout runs as `_batch_norm_relu_dropout`; in evaluation this is `net(x)`.
    """
    if not (net.training and isinstance(net, nn.Sequential)):  # a lone Linear acts on rows: blocks change nothing
        return net(x)
    layers, i, h = list(net), 0, x
    while i < len(layers):
        layer = layers[i]
        if isinstance(layer, nn.BatchNorm1d):
            if i + 1 < len(layers) and isinstance(layers[i + 1], nn.ReLU):
                dropout = layers[i + 2] if i + 2 < len(layers) and isinstance(layers[i + 2], nn.Dropout) else None
                h = _batch_norm_relu_dropout(h, layer, dropout, blocks)
                i += 3 if dropout is not None else 2
                continue
            h = torch.cat([layer(block) for block in h.chunk(blocks)]) if blocks > 1 else layer(h)
        elif not isinstance(layer, (nn.Linear, nn.ReLU, nn.Dropout)):
            raise TypeError(f"blockwise_forward: unexpected layer {type(layer).__name__}")
        else:
            h = layer(h)
        i += 1
    return h


class Projection(nn.Sequential):
    """F_A / F_V of the released code: Linear -> Dropout -> ReLU -> Linear (no BatchNorm)."""


class BatchNormProjection(nn.Sequential):
    """AVCA-GZSL's EmbeddingNet: Linear -> BatchNorm1d -> ReLU -> Dropout -> Linear [-> ReLU].

    The order and the optional last ReLU (their CJME's EmbeddingNetCJME) follow their src/model.py:233-251
    and 335-352. ReLU before dropout gives the same function as dropout before ReLU.
    """


def create_projection(
    *, in_dim: int, hidden_dim: int, out_dim: int, dropout: float, batch_norm: bool = False,
    out_relu: bool = False,
) -> nn.Sequential:
    """Two-layer projection: the released code's `Projection`, unless AVCA's BatchNorm or last ReLU is asked."""
    if not (batch_norm or out_relu):
        return Projection(
            nn.Linear(in_dim, hidden_dim), BitMaskDropout(dropout), nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, out_dim),
        )
    layers = [nn.Linear(in_dim, hidden_dim)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(hidden_dim))
    layers += [nn.ReLU(inplace=True), BitMaskDropout(dropout), nn.Linear(hidden_dim, out_dim)]
    if out_relu:
        layers.append(nn.ReLU(inplace=True))
    return BatchNormProjection(*layers)


class InputNormalization:
    """The trainer's input-normalisation hooks, shared by every model (a mixin for nn.Module subclasses).

    `prep` L2-normalises a batch's rows when the model's config asks for it; inside `normalized_inputs()`
    it passes them through, because the trainer normalised the whole split once up front.
    """

    inputs_normalized = False

    def prep(self, x: torch.Tensor) -> torch.Tensor:
        if self.model_cfg.normalize_inputs and not self.inputs_normalized:
            return F.normalize(x, dim=1)
        return x

    @contextlib.contextmanager
    def normalized_inputs(self):
        previous, self.inputs_normalized = self.inputs_normalized, True
        try:
            yield self
        finally:
            self.inputs_normalized = previous
