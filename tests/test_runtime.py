"""The one device resolver and the one seeding function: their errors, and that every caller's random streams
are exactly the ones it drew before they were shared."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from avgzsl_extractors.audio_train import train_audio_cnn
from test_audio_cnn import CLASSES, quiet, small_cfg, synthetic

from avgzsl.datasets.synthetic import SyntheticConfig, synthetic_splits
from avgzsl.runtime.device import resolve_device, set_torch_threads
from avgzsl.runtime.seeding import seed_everything
from avgzsl.settings.experiment import build_experiment
from avgzsl.training.train import train_model

DIMS = {"audio_dim": 12, "video_dim": 12, "text_dim": 6}


def _no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_auto_and_devices_pass_through(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    _no_cuda(monkeypatch)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device() == torch.device("cuda")


@pytest.mark.parametrize("value,says", [("gpu", "'gpu' is not a device name"), ("cuda:x", "not a device name"),
                                        (3, "expected a device name"), (None, "expected a device name")])
def test_a_bad_device_name_is_refused_naming_the_option(value, says):
    with pytest.raises(ValueError, match=says) as err:
        resolve_device(value, option="train.device")
    assert str(err.value).startswith("train.device: ")


@pytest.mark.parametrize("value", ["cuda", "cuda:0", torch.device("cuda")])
def test_cuda_without_a_gpu_is_refused_naming_the_option(monkeypatch, value):
    _no_cuda(monkeypatch)
    with pytest.raises(ValueError, match=r"^device: 'cuda(:0)?' asks for CUDA, but torch .* sees no CUDA device"):
        resolve_device(value)


def test_a_cuda_index_beyond_the_machine_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(ValueError, match=r"--device: 'cuda:2' asks for CUDA device 2, but this machine has 2"):
        resolve_device("cuda:2", option="--device")


def test_callers_name_their_own_option(monkeypatch, tmp_path):
    _no_cuda(monkeypatch)
    cfg = build_experiment(name="x", model={"kind": "avgzslnet", **DIMS}, train={"epochs": 1, "device": "cuda"})
    splits = synthetic_splits(SyntheticConfig(n_classes=4, n_seen=3, clips_per_class={"trn": 3}, **DIMS))
    with pytest.raises(ValueError, match="^train.device: 'cuda' asks for CUDA"):
        train_model(cfg, splits["trn"], progress=False)
    specs, labels, splits = synthetic(per_class=3)
    with pytest.raises(ValueError, match="^audio CNN device: 'cuda' asks for CUDA"):
        train_audio_cnn(specs, labels, classes=CLASSES, splits=splits, cfg=small_cfg(device="cuda"),
                        checkpoint_path=tmp_path / "a.pt", log=quiet)


def test_threads_are_set_only_when_given():
    before = torch.get_num_threads()
    try:
        set_torch_threads(None)
        set_torch_threads(0)
        assert torch.get_num_threads() == before
        set_torch_threads(1)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def _states() -> tuple:
    return random.getstate(), np.random.get_state(), torch.get_rng_state()


def _same(a: tuple, b: tuple) -> bool:
    (pa, na, ta), (pb, nb, tb) = a, b
    return pa == pb and all(np.array_equal(x, y) for x, y in zip(na, nb)) and torch.equal(ta, tb)


def test_seed_everything_sets_the_three_streams_the_old_calls_set():
    random.seed(5)
    np.random.seed(5)
    torch.manual_seed(5)
    old = _states()
    random.seed(99), np.random.seed(99), torch.manual_seed(99)
    seed_everything(5)
    assert _same(_states(), old)


def test_seeding_torch_only_leaves_python_and_numpy_as_they_were():
    random.seed(11)
    np.random.seed(11)
    torch.manual_seed(7)
    want = _states()
    random.seed(11), np.random.seed(11), torch.manual_seed(99)
    seed_everything(7, python=False, numpy=False)
    assert _same(_states(), want)


def test_audio_training_seeds_torch_only_as_before(tmp_path):
    """It never seeded python's or numpy's global state (its numpy draws come from its own generator): a caller's
    streams there continue where they were."""
    specs, labels, splits = synthetic(per_class=3)
    random.seed(21)
    np.random.seed(21)
    expected_python, expected_numpy = random.getstate(), np.random.get_state()
    train_audio_cnn(specs, labels, classes=CLASSES, splits=splits, cfg=small_cfg(epochs=1),
                    checkpoint_path=tmp_path / "a.pt", log=quiet)
    assert random.getstate() == expected_python
    assert all(np.array_equal(x, y) for x, y in zip(np.random.get_state(), expected_numpy))


def test_deep_training_seeds_all_three_as_before():
    """train_model seeded python, numpy and torch; nothing in it draws from python's or numpy's global state,
    so after training they are exactly as seeding left them."""
    cfg = build_experiment(name="x", model={"kind": "avgzslnet", **DIMS}, train={"epochs": 2, "seed": 4})
    splits = synthetic_splits(SyntheticConfig(n_classes=4, n_seen=3, clips_per_class={"trn": 3, "val": 2}, **DIMS))
    random.seed(4)
    np.random.seed(4)
    expected_python, expected_numpy = random.getstate(), np.random.get_state()
    random.seed(0), np.random.seed(0)
    train_model(cfg, splits["trn"], splits["val"], progress=False)
    assert random.getstate() == expected_python
    assert all(np.array_equal(x, y) for x, y in zip(np.random.get_state(), expected_numpy))
