"""train.precision: bfloat16 autocast for the training forward pass, float32 for weights, losses and scores."""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from avgzsl.datasets.synthetic import SyntheticConfig, synthetic_splits
from avgzsl.models.layers import BitMaskDropout
from avgzsl.models.registry import create_model
from avgzsl.pipeline.config_check import field_problems
from avgzsl.settings.experiment import TrainConfig, build_experiment, validate
from avgzsl.training.train import train_model, training_autocast

DIMS = {"audio_dim": 96, "video_dim": 96, "text_dim": 40}
PRODUCTS = (torch.ops.aten.mm.default, torch.ops.aten.addmm.default, torch.ops.aten.bmm.default)

# (preset, model overrides): every training path: the fused Linear-Dropout-ReLU of the official preset,
# AVCA-GZSL's BatchNorm nets, CJME with attention, the single-modality and concatenation nets, AVCA itself
CASES = [
    ("official", {"kind": "avgzslnet"}),
    ("avca", {"kind": "avgzslnet"}),
    ("official", {"kind": "cjme", "attention": True}),
    ("avca", {"kind": "cjme", "attention": True}),
    ("official", {"kind": "audio_only"}),
    ("official", {"kind": "av_concat"}),
    ("avca-ucf-main", {"kind": "avca"}),
]


class ProductDtypes(TorchDispatchMode):
    """The dtypes the matrix products of a block ran in."""

    def __init__(self):
        super().__init__()
        self.dtypes: set[torch.dtype] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func in PRODUCTS:
            self.dtypes.add(out.dtype)
        return out


def one_step(preset: str, model: dict, precision: str, dropout: float | None = 0.0):
    """Loss terms and the flattened parameter gradient of one training step from a fixed initialisation."""
    extra = {} if dropout is None else {"dropout": dropout, "decoder_dropout": dropout, "additional_dropout": dropout}
    cfg = build_experiment(name="p", preset_name=preset, model={**model, **DIMS, **extra})
    torch.manual_seed(0)
    net = create_model(cfg.model, cfg.loss).train()
    b = 32
    g = torch.Generator().manual_seed(1)
    batch = {"xa": torch.randn(2 * b, 96, generator=g), "xv": torch.randn(2 * b, 96, generator=g),
             "xt": torch.randn(2 * b, 40, generator=g), "class_text": torch.randn(5, 40, generator=g)}
    torch.manual_seed(2)
    with ProductDtypes() as seen, training_autocast(torch.device("cpu"), precision):
        terms = net.training_terms(batch)
    loss = torch.stack(list(terms.values())).sum()
    loss.backward()
    grad = torch.cat([p.grad.flatten() for p in net.parameters() if p.grad is not None])
    return terms, grad, net, seen.dtypes


@pytest.mark.parametrize("preset,model", CASES, ids=[f"{p}-{m['kind']}" for p, m in CASES])
def test_bfloat16_step_is_a_float32_step_with_rounded_products(preset, model):
    terms32, grad32, _, dtypes32 = one_step(preset, model, "float32")
    terms16, grad16, net16, dtypes16 = one_step(preset, model, "bfloat16")
    assert dtypes32 == {torch.float32}
    assert torch.bfloat16 in dtypes16  # the products really ran in bfloat16 ...
    assert all(t.dtype == torch.float32 for t in terms16.values())  # ... and the losses in float32
    assert all(p.dtype == torch.float32 for p in net16.parameters())
    assert all(p.grad.dtype == torch.float32 for p in net16.parameters() if p.grad is not None)
    assert torch.isfinite(grad16).all()
    loss32, loss16 = sum(terms32.values()).item(), sum(terms16.values()).item()
    assert loss16 == pytest.approx(loss32, rel=0.02)
    cosine = torch.nn.functional.cosine_similarity(grad32, grad16, dim=0).item()
    assert cosine > 0.98, cosine
    assert not torch.equal(grad32, grad16)  # rounded: not silently a float32 step


def test_bfloat16_with_dropout_keeps_the_float32_masks():
    # the same seed draws the same mask whatever dtype the activations have
    drop = BitMaskDropout(0.8)
    torch.manual_seed(5)
    m32 = drop.mask(torch.Size((64, 48)), dtype=torch.float32, device=torch.device("cpu"))
    torch.manual_seed(5)
    m16 = drop.mask(torch.Size((64, 48)), dtype=torch.bfloat16, device=torch.device("cpu"))
    assert torch.equal(m32, m16.float())
    assert set(m32.unique().tolist()) == {0.0, 5.0}
    _, grad16, _, _ = one_step("official", {"kind": "avgzslnet"}, "bfloat16", dropout=None)
    assert torch.isfinite(grad16).all()


def test_training_in_bfloat16_learns_and_scores_in_float32():
    splits = synthetic_splits(SyntheticConfig(n_classes=12, n_seen=8, clips_per_class={"trn": 20, "val": 6, "tst": 6},
                                              **DIMS, seed=4))
    cfg = build_experiment(name="bf16", preset_name="avca", model={"kind": "avgzslnet", **DIMS},
                           train={"epochs": 3, "batches_per_epoch": 10, "batch_size": 64, "precision": "bfloat16",
                                  "lr_schedule": "none"})
    result = train_model(cfg, splits["trn"], splits["val"], progress=False)
    losses = [row["loss"] for row in result.history]
    assert losses[-1] < losses[0]
    assert all(p.dtype == torch.float32 for p in result.model.state_dict().values() if p.is_floating_point())
    with ProductDtypes() as seen:
        d = result.model.distances(splits["tst"].audio, splits["tst"].video, splits["tst"].has_audio,
                                   splits["tst"].has_video, splits["tst"].text)
    assert seen.dtypes == {torch.float32} and d["both"].dtype == torch.float32


@pytest.mark.parametrize("value", ["fp16", "bf16", "float16", ""])
def test_unknown_precision_is_refused_by_key(value):
    problems = field_problems(TrainConfig, {"precision": value})
    assert problems and problems[0][0] == "precision" and "bfloat16" in problems[0][1]
    with pytest.raises(ValueError, match="train.precision"):
        validate(build_experiment(name="x", train={"precision": value}))
    with pytest.raises(ValueError, match="train.precision"):
        training_autocast(torch.device("cpu"), value)
