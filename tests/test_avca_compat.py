"""AVCA-GZSL's two training quirks behind compat settings, against hand-computed cases.

* `model.avca_train_position_embedding: false`: their optimiser leaves the position embedding out, so it
  never moves (src/model_improvements.py:182, 187-192);
* `train.avca_extra_embedding_pass: true`: their loop calls `get_embeddings` on the positives in train mode
  after every step (src/train.py:110-111), one more BatchNorm update with the post-step weights.

The comparison with their class runs when AVCA_GZSL_REPO names a checkout of their repository.
"""

from __future__ import annotations

import copy

import pytest
import torch
from avca_helpers import run_by_hand, spread_batch_norm_affine
from test_avca_model import _ours, needs_avca, their_avca  # noqa: F401 (their_avca is a fixture)

from avgzsl.models.registry import create_model
from avgzsl.pipeline.config_check import experiment_problems
from avgzsl.settings.experiment import AVCA_MODEL_PRESETS, build_experiment
from avgzsl.training.train import _train_step, create_optimizer

SMALL = {"kind": "avca", "audio_dim": 6, "video_dim": 5, "text_dim": 300, "hidden_dim": 8,
         "decoder_hidden_dim": 7, "embed_dim": 4, "dropout": 0.0, "decoder_dropout": 0.0, "additional_dropout": 0.0}
CPU = torch.device("cpu")
B = 4  # positives per batch


def avca(preset="avca-ucf-cls", *, model=None, train=None):
    """A small AVCA in train mode; avca-ucf-cls: output BatchNorm momentum 0.99, the others' 0.1."""
    cfg = build_experiment(preset_name=preset, model={**SMALL, **(model or {})}, train=train or {})
    torch.manual_seed(0)
    net = create_model(cfg.model, cfg.loss)
    spread_batch_norm_affine(net)
    return net.train(), cfg


def pair_batch(seed=1) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"xa": torch.randn(2 * B, 6, generator=g), "xv": torch.randn(2 * B, 5, generator=g),
            "xt": torch.randn(2 * B, 300, generator=g)}


def one_step(net, cfg, batch) -> None:
    _train_step(net, create_optimizer(net, cfg.train), batch, cfg, CPU)


# ------------------------------------------------------------------ defaults and validation


@pytest.mark.parametrize("name", AVCA_MODEL_PRESETS)
def test_presets_keep_the_papers_training(name):
    cfg = build_experiment(preset_name=name, model={"kind": "avca"})
    assert cfg.model.avca_train_position_embedding and not cfg.train.avca_extra_embedding_pass


def test_the_extra_pass_is_avca_only():
    with pytest.raises(ValueError, match="avca_extra_embedding_pass"):
        build_experiment(preset_name="avca", model={"kind": "avgzslnet"}, train={"avca_extra_embedding_pass": True})
    problems = experiment_problems({"kind": "cjme"}, {}, {"avca_extra_embedding_pass": True})
    assert [(s, k) for s, k, _ in problems] == [("train", "avca_extra_embedding_pass")]
    assert experiment_problems({"kind": "avca"}, {}, {"avca_extra_embedding_pass": True}) == []


# ------------------------------------------------------------------ (a) the position embedding


@pytest.mark.parametrize("trained", [False, True])
def test_position_embedding_moves_only_when_trained(trained):
    net, cfg = avca(model={"avca_train_position_embedding": trained})
    before = {k: v.detach().clone() for k, v in net.named_parameters()}
    one_step(net, cfg, pair_batch())
    after = dict(net.named_parameters())
    assert torch.equal(after["position"], before["position"]) != trained  # frozen: bit for bit
    assert "position" in net.state_dict()  # still saved with the checkpoint
    unmoved = [k for k in before if k != "position" and torch.equal(after[k], before[k])]
    assert unmoved == []  # every other parameter took its Adam step


# ------------------------------------------------------------------ (b) BatchNorm running statistics


def _momentum_update(stats: tuple, h: torch.Tensor, momentum: float) -> tuple:
    """torch's running-statistics update: (1 - m) r + m s, with the unbiased variance."""
    mean, var = stats
    return (1 - momentum) * mean + momentum * h.mean(0), (1 - momentum) * var + momentum * h.var(0, unbiased=True)


def _expected_running(before, after, net_name: str, index: int, x: torch.Tensor, extra_pass: bool) -> tuple:
    """The training forward's two updates (positive block, then negative, pre-step weights), then with the
    extra pass one more from the positives through the post-step weights."""
    seq_before, seq_after = getattr(before, net_name), getattr(after, net_name)
    bn = seq_before[index]
    stats = (bn.running_mean.clone(), bn.running_var.clone())
    for half in (x[:B], x[B:]):
        stats = _momentum_update(stats, run_by_hand(seq_before, half, index), bn.momentum)
    if extra_pass:
        stats = _momentum_update(stats, run_by_hand(seq_after, x[:B], index), bn.momentum)
    return stats


@pytest.mark.parametrize("extra_pass", [False, True])
def test_running_statistics_by_hand(extra_pass):
    net, cfg = avca(train={"avca_extra_embedding_pass": extra_pass})
    before, batch = copy.deepcopy(net), pair_batch()
    one_step(net, cfg, batch)
    # encoder BatchNorms: Linear -> BN(0.1) -> ReLU -> Dropout -> Linear -> BN(0.99); text: Linear -> BN(0.1)
    cases = [("audio_enc", 1, batch["xa"]), ("audio_enc", 5, batch["xa"]), ("video_enc", 5, batch["xv"]),
             ("text_proj", 1, batch["xt"])]
    assert [getattr(net, n)[i].momentum for n, i, _ in cases] == [0.1, 0.99, 0.99, 0.1]
    for name, index, x in cases:
        mean, var = _expected_running(before, net, name, index, x, extra_pass)
        bn = getattr(net, name)[index]
        torch.testing.assert_close(bn.running_mean, mean, msg=f"{name}[{index}] mean")
        torch.testing.assert_close(bn.running_var, var, msg=f"{name}[{index}] var")
        assert int(bn.num_batches_tracked) == 2 + extra_pass


def test_the_extra_pass_moves_only_get_embeddings_nets():
    """A_proj and V_proj move too; D, A_rec and V_rec are not called by get_embeddings."""
    states = []
    for extra_pass in (False, True):
        net, cfg = avca(train={"avca_extra_embedding_pass": extra_pass})
        one_step(net, cfg, pair_batch())
        states.append({k: v for k, v in net.state_dict().items() if "running_mean" in k})
    plain, extra = states
    for key in plain:
        moved = not torch.equal(plain[key], extra[key])
        assert moved == key.startswith(("audio_enc", "video_enc", "text_proj", "audio_proj", "video_proj")), key


# ------------------------------------------------------------------ AVCA-GZSL's own class, one full step


@needs_avca
def test_one_step_matches_their_training_step(their_avca):  # noqa: F811 (the fixture)
    """Their step (optimize_params, then get_embeddings) against ours with both switches: every parameter
    and buffer. Plain SGD on both sides over their optimiser's parameter list: Adam's first step turns the
    round-off gradients of directions BatchNorm cancels (a Linear's bias before it) into steps of +-lr."""
    sgd = {"optimizer": "sgd", "lr": 0.01, "momentum": 0.0}
    net, cfg = avca("avca-ucf-main", model={"avca_train_position_embedding": False},
                    train={"avca_extra_embedding_pass": True, **sgd})
    m = cfg.model
    params = {"dim_out": m.embed_dim, "encoder_hidden_size": m.hidden_dim, "decoder_hidden_size": m.decoder_hidden_dim,
              "dropout_encoder": 0.0, "dropout_decoder": 0.0, "depth_transformer": 1, "additional_triplets_loss": True,
              "reg_loss": True, "additional_dropout": 0.0, "momentum": m.bn_momentum, "first_additional_triplet": 1,
              "second_additional_triplet": 1, "lr": cfg.train.lr}
    theirs = their_avca(params, input_size_audio=6, input_size_video=5)
    theirs.optimizer_gen = torch.optim.SGD(theirs.optimizer_gen.param_groups[0]["params"], lr=sgd["lr"])
    ours_state = {k: v.clone() for k, v in net.state_dict().items()}
    theirs.load_state_dict({k: ours_state[_ours(k)] for k in theirs.state_dict()})
    theirs.train()
    batch = pair_batch()
    # src/train.py:110-111: the step, then get_embeddings on the positives, in train mode
    theirs.optimize_params(batch["xa"][:B], batch["xv"][:B], None, batch["xt"][:B], batch["xa"][B:],
                           batch["xv"][B:], batch["xt"][B:], optimize=True)
    theirs.get_embeddings(batch["xa"][:B], batch["xv"][:B], batch["xt"][:B])
    one_step(net, cfg, batch)
    ours_after = net.state_dict()
    for key, value in theirs.state_dict().items():
        torch.testing.assert_close(ours_after[_ours(key)], value, rtol=1e-4, atol=1e-5, msg=key)
    assert torch.equal(ours_after["position"], ours_state["position"])
    assert int(ours_after["audio_enc.1.num_batches_tracked"]) == 3  # two blocks, then the extra pass
