"""benchmarks/tcaf_epoch.py's logic (no timings): the floor's product count, the clips, their on-disk layout."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import _matmul_floor  # noqa: E402
import _tcaf_repo  # noqa: E402
import tcaf_epoch  # noqa: E402

from avgzsl.settings.experiment import build_experiment  # noqa: E402

TINY = {"depth": 2, "heads": 2, "dim_head": 3, "dim": 8, "mlp_dim": 5, "encoder_hidden": 5, "decoder_hidden": 6,
        "embed_dim": 4}


def test_product_flops_by_hand():
    layer = torch.nn.Linear(3, 4)
    x = torch.randn(5, 3, requires_grad=True)
    with _matmul_floor.ProductRecorder() as recorder:
        layer(x).sum().backward()
    # forward x W^T + b, backward dL/dx = g W and dL/dW = g^T x: three (5 x 3 x 4) products, 2 FLOPs a term
    assert _matmul_floor.product_flops(recorder.calls) == 3 * 2 * 5 * 3 * 4


@pytest.mark.parametrize("extra_pass", [False, True])
def test_the_floor_records_every_product_of_a_tcaf_step(extra_pass):
    clips = tcaf_epoch.synthetic_clips(40, dim_av=6, dim_text=8)
    split = tcaf_epoch.feature_split(clips)
    cfg = build_experiment(preset_name=tcaf_epoch.PRESET, model={
        "kind": "tcaf", "audio_dim": 6, "video_dim": 6, "text_dim": 8, "options": TINY},
        train={"avca_extra_embedding_pass": extra_pass, "lr_schedule": "none"})
    step = _matmul_floor.training_step(cfg, split, torch.device("cpu"), tcaf_epoch.N_SEEN)
    with FlopCounterMode(display=False) as counter:
        step()
    with _matmul_floor.ProductRecorder() as recorder:
        step()
    # FlopCounterMode counts every matrix product torch runs; the floor times what the recorder saw
    assert _matmul_floor.product_flops(recorder.calls) == counter.get_total_flops() > 0


def test_clips_are_grouped_by_class_with_their_window_counts():
    clips = tcaf_epoch.synthetic_clips(500, dim_av=4, dim_text=8)
    assert np.all(np.diff(clips.labels) >= 0) and clips.labels.max() < tcaf_epoch.N_SEEN
    for lengths in (clips.audio_lengths, clips.video_lengths):
        assert lengths.max() == tcaf_epoch.MAX_WINDOWS and lengths.min() >= 2
        assert 0.8 < np.mean(lengths == tcaf_epoch.MAX_WINDOWS) < 0.97
    split = tcaf_epoch.feature_split(clips)
    i = 123
    window_rows = clips.windows("video", i)
    assert window_rows.shape == (clips.video_lengths[i], 4)
    np.testing.assert_allclose(split.video[i].numpy(), window_rows.mean(0), rtol=1e-5, atol=1e-6)


def _fake_checkout(path: Path, classes: list[str]) -> Path:
    lists = path / _tcaf_repo.CLASS_SPLIT
    (lists / "main_split").mkdir(parents=True)
    (lists / "all_class.txt").write_text("\n".join(classes) + "\n")
    (lists / "vggsound_w2v_class_names.csv").write_text(
        "original,manual,category\n" + "".join(f'"{c}","{c}, x",misc\n' for c in classes))
    for stage in ("stage_1_train", *_tcaf_repo.OTHER_STAGES):
        (lists / "main_split" / f"{stage}.txt").write_text("\n".join(classes[:2]) + "\n")
    return path


def test_their_layout_holds_each_class_clips_in_order(tmp_path):
    clips = tcaf_epoch.synthetic_clips(30, dim_av=4, dim_text=8)
    clips.labels[:] = np.sort(np.arange(30) % 2)  # two training classes
    repo = _fake_checkout(tmp_path / "repo", ["b class", "a class", "c class"])
    root = tmp_path / "VGGSound"
    _tcaf_repo.write_their_layout(root, repo, clips, "main_features_non_averaged", "main_split")
    base = root / "features" / "main_features_non_averaged"
    for c, name in enumerate(["a class", "b class"]):  # class i is the i-th of the sorted stage_1_train list
        with (base / "video" / "stage_1_train" / f"{name}.pkl").open("rb") as fh:
            payload = pickle.load(fh)
        members = np.flatnonzero(clips.labels == c)
        assert len(payload["features"]) == len(payload["video_names"]) == len(payload["fps"]) == len(members)
        for seq, i in zip(payload["features"], members):
            np.testing.assert_array_equal(seq, clips.windows("video", i))
    text = np.load(base / "text" / "word_embeddings_vggsound_normed.npy", allow_pickle=True).item()
    assert sorted(text) == ["a class, x", "b class, x", "c class, x"]


def test_ragged_arrays_become_object_arrays_as_in_old_numpy():
    ragged = [np.zeros((3, 2)), np.ones((5, 2))]
    out = _tcaf_repo._NumpyRaggedArrays().array(ragged)
    assert out.dtype == object and out.shape == (2,) and out[1] is ragged[1]
    assert _tcaf_repo._NumpyRaggedArrays().array([np.zeros((3, 2))] * 2).shape == (2, 3, 2)
