"""The audio CNN: shapes, the seen-class-only training guard, learning, resume, determinism, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from avgzsl_extractors import audio_train
from avgzsl_extractors.audio_cnn import (
    AudioCheckpointError,
    AudioCNNConfig,
    create_audio_cnn,
    load_audio_cnn,
    make_embed_fn,
    save_checkpoint,
)
from avgzsl_extractors.audio_train import AudioTrainConfig, select_training_clips, train_audio_cnn

from avgzsl.formats.manifest import ClassTable

N_MELS = 16
SMALL = AudioCNNConfig(n_mels=N_MELS, channels=(4, 8, 8, 8, 16, 16, 32), dropout=0.1)
CLASSES = ClassTable.from_lists(["dog", "cat", "car", "rain", "bell"], unseen=["rain", "bell"])


def synthetic(per_class: int = 8, seed: int = 0):
    """Each class lights up its own band of mel bins; lengths vary so crops and padding are exercised."""
    rng = np.random.default_rng(seed)
    specs, labels, splits = [], [], []
    for k, name in enumerate(CLASSES.names):
        for j in range(per_class):
            frames = int(rng.integers(24, 48))
            spec = rng.normal(-40.0, 2.0, size=(N_MELS, frames)).astype(np.float32)
            spec[3 * k : 3 * k + 3] += 15.0
            specs.append(spec)
            labels.append(name)
            # mostly trn; a few val/tst so the selection has something to drop
            splits.append("trn" if j < per_class - 2 else ("val" if j % 2 else "tst"))
    return specs, labels, splits


def small_cfg(**overrides) -> AudioTrainConfig:
    base = dict(epochs=2, batch_size=8, lr=3e-3, frames=32, seed=3, progress=False, device="cpu", model=SMALL)
    base.update(overrides)
    return AudioTrainConfig(**base)


def quiet(_msg: str) -> None:
    return None


def test_default_network_shapes_and_embed_fn():
    model = create_audio_cnn(n_classes=23, config=AudioCNNConfig()).eval()
    spec = torch.randn(2, 64, 80)  # (B, n_mels, frames)
    assert model.embed(spec).shape == (2, 1024)
    assert model(spec).shape == (2, 23)
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 7 and convs[-1].out_channels == 1024

    small = create_audio_cnn(n_classes=3, config=SMALL)
    batch = np.random.default_rng(0).normal(size=(5, N_MELS, 7)).astype(np.float32)  # shorter than 2**pools
    embed_fn = make_embed_fn(small, device="cpu", batch_size=2)
    out = embed_fn(batch)
    assert out.shape == (5, 32) and out.dtype == np.float32
    with torch.inference_mode():
        np.testing.assert_allclose(out, small.embed(torch.from_numpy(batch)).numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="n_mels"):
        small.embed(torch.zeros(1, N_MELS + 1, 20))


def test_selection_keeps_only_seen_trn_clips():
    _, labels, splits = synthetic(per_class=4)
    idx = select_training_clips(labels, splits, CLASSES)
    assert len(idx) > 0
    assert all(splits[i] == "trn" and labels[i] in ("dog", "cat", "car") for i in idx)
    expected = [i for i, (lab, s) in enumerate(zip(labels, splits)) if s == "trn" and lab in CLASSES.seen_names]
    assert idx.tolist() == expected
    with pytest.raises(ValueError, match="not in the class table"):
        select_training_clips(["dog", "whale"], ["trn", "trn"], CLASSES)


def test_unseen_or_non_trn_clip_reaching_training_raises(tmp_path, monkeypatch):
    specs, labels, splits = synthetic(per_class=4)
    kw = dict(classes=CLASSES, splits=splits, log=quiet)
    # a broken selection must not leak: the trainer re-checks what it actually holds
    monkeypatch.setattr(audio_train, "select_training_clips", lambda l, s, c: np.arange(len(l)))
    with pytest.raises(ValueError, match="unseen class.*(rain|bell)"):
        train_audio_cnn(specs, labels, cfg=small_cfg(), checkpoint_path=tmp_path / "a.pt", **kw)
    seen_val = [i for i, (lab, s) in enumerate(zip(labels, splits)) if s == "val" and lab == "dog"]
    monkeypatch.setattr(audio_train, "select_training_clips", lambda l, s, c: np.array([0, 1] + seen_val))
    with pytest.raises(ValueError, match="val.*dog"):
        train_audio_cnn(specs, labels, cfg=small_cfg(), checkpoint_path=tmp_path / "b.pt", **kw)
    assert not (tmp_path / "a.pt").exists() and not (tmp_path / "b.pt").exists()


def test_learns_band_classes_with_a_seen_only_head(tmp_path):
    specs, labels, splits = synthetic(per_class=12)
    cfg = small_cfg(epochs=6, val_fraction=0.2)
    kw = dict(classes=CLASSES, splits=splits, log=quiet)
    result = train_audio_cnn(specs, labels, cfg=cfg, checkpoint_path=tmp_path / "cnn.pt", **kw)
    last = result["history"][-1]
    assert last["acc"] > 0.8, result["history"]  # chance is 1/3
    assert "val_acc" in last
    model, meta = load_audio_cnn(tmp_path / "cnn.pt", device="cpu")
    assert meta["class_names"] == ["dog", "cat", "car"] and model.n_classes == 3
    assert meta["extra"]["n_val_clips"] > 0


def test_resume_finish_detection_and_determinism(tmp_path):
    specs, labels, splits = synthetic(per_class=4)
    kw = dict(classes=CLASSES, splits=splits, log=quiet)
    first = train_audio_cnn(specs, labels, cfg=small_cfg(epochs=2), checkpoint_path=tmp_path / "r.pt", **kw)
    assert first["epochs_run"] == 2
    more = train_audio_cnn(specs, labels, cfg=small_cfg(epochs=3), checkpoint_path=tmp_path / "r.pt", **kw)
    assert more["epochs_run"] == 1 and [h["epoch"] for h in more["history"]] == [1, 2, 3]
    again = train_audio_cnn(specs, labels, cfg=small_cfg(epochs=3), checkpoint_path=tmp_path / "r.pt", **kw)
    assert again["epochs_run"] == 0 and len(again["history"]) == 3

    straight = [
        train_audio_cnn(specs, labels, cfg=small_cfg(epochs=3), checkpoint_path=tmp_path / f"s{i}.pt", **kw)
        for i in range(2)
    ]
    weights = [load_audio_cnn(tmp_path / name, device="cpu")[0].state_dict() for name in ("s0.pt", "s1.pt", "r.pt")]
    for key in weights[0]:
        assert torch.equal(weights[0][key], weights[1][key]), f"same seed, different {key}"
        assert torch.equal(weights[0][key], weights[2][key]), f"resumed run differs from straight run in {key}"
    assert straight[0]["history"] == more["history"]

    with pytest.raises(ValueError, match="fingerprint"):
        train_audio_cnn(specs, labels, cfg=small_cfg(epochs=4, lr=1e-2), checkpoint_path=tmp_path / "r.pt", **kw)


def test_checkpoint_round_trip_and_bad_files(tmp_path):
    model = create_audio_cnn(n_classes=3, config=SMALL).eval()
    path = save_checkpoint(tmp_path / "m.pt", model, SMALL, ["dog", "cat", "car"], {"note": "x"})
    assert not list(tmp_path.glob(".*.tmp"))
    loaded, meta = load_audio_cnn(path, device="cpu")
    assert meta["config"] == SMALL and meta["extra"] == {"note": "x"} and not loaded.training
    x = torch.randn(2, N_MELS, 40)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), model(x))

    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_audio_cnn(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(AudioCheckpointError, match="junk.pt"):
        load_audio_cnn(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(AudioCheckpointError, match="other.pt"):
        load_audio_cnn(tmp_path / "other.pt")
    cfg = AudioTrainConfig.from_dict({"epochs": 1, "model": SMALL.to_dict()})
    assert cfg.model == SMALL
    with pytest.raises(ValueError, match="unknown AudioTrainConfig"):
        AudioTrainConfig.from_dict({"epoch": 1})
    with pytest.raises(ValueError, match="class names"):
        save_checkpoint(tmp_path / "n.pt", model, SMALL, ["dog"], {})
