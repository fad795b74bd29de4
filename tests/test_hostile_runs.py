"""Hostile saved scores, checkpoints and I3D weights: each refused with one error naming the file (and the array
or config key), through the Python readers and `recompute` / `evaluate`, without echoing the file's content.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from hostile_helpers import outside_file, refused
from released_helpers import shard_args, write_our_shards

from avgzsl.cli import main
from avgzsl.evaluation.saved_scores import ScoresError, read_scores
from avgzsl.models.registry import create_model
from avgzsl.settings.experiment import ExperimentConfig
from avgzsl.training.checkpoint import CheckpointError, _checkpoint, load_checkpoint


@pytest.fixture(scope="module")
def shard_dir(tmp_path_factory):
    return write_our_shards(tmp_path_factory.mktemp("shards"), audio_dim=4, video_dim=6, text_dim=5)


# ---- saved scores ----------------------------------------------------------------------------------


def _scores(path, **change):
    arrays = {"labels": np.array([0, 1, 2]), "seen": np.array([True, True, False]),
              "has_audio": np.ones(3, bool), "has_video": np.ones(3, bool),
              "distances_audio": np.zeros((3, 3)), "run_info": np.array(json.dumps({"protocol": "paper"}))}
    arrays.update(change)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


BAD_SCORES = [
    ("truncated", lambda p: p.write_bytes(_scores(p).read_bytes()[:300]), "not a readable .npz"),
    ("no labels", lambda p: _scores(p, labels=None), "lacks the array"),
    ("labels out of range", lambda p: _scores(p, labels=np.array([0, 1, 7])), "outside the 3 classes"),
    ("float labels", lambda p: _scores(p, labels=np.array([0.0, 1.0, 2.0])), "integer"),
    ("distances of another shape", lambda p: _scores(p, distances_audio=np.zeros((3, 2))), "shape"),
    ("string distances", lambda p: _scores(p, distances_audio=np.array([["x"] * 3] * 3)), "distances_audio"),
    ("run_info a list", lambda p: _scores(p, run_info=np.array("[1, 2]")), "must be a JSON object"),
    ("a folder", lambda p: p.mkdir(), "a folder"),
    ("a FIFO", lambda p: os.mkfifo(p), "FIFO"),
    ("a symlink", lambda p: p.symlink_to(_scores(p.parent.parent / "real.npz")), "symbolic link"),
]


@pytest.mark.parametrize("case,make,says", BAD_SCORES, ids=[c[0] for c in BAD_SCORES])
def test_recompute_refuses_bad_scores_naming_the_file(tmp_path, capsys, case, make, says):
    run = tmp_path / "run"
    run.mkdir()
    make(run / "scores.npz")
    with pytest.raises(ScoresError, match=says):
        read_scores(run / "scores.npz")
    assert main(["recompute", str(run)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and says in err
    refused(err, run / "scores.npz")


# ---- checkpoints -----------------------------------------------------------------------------------


def _state():
    cfg = ExperimentConfig.from_dict({"model": {"audio_dim": 4, "video_dim": 6, "text_dim": 5}})
    return _checkpoint(cfg, create_model(cfg.model, cfg.loss), epoch=1)


def _with_config(section, key, value):
    def change(state):
        state["config"][section][key] = value
    return change


def _nan_weight(state):
    state["model"][next(iter(state["model"]))][0] = float("nan")


BAD_CHECKPOINTS = [
    ("hidden_dim text", _with_config("model", "hidden_dim", "abc"), "config.model.hidden_dim"),
    ("hidden_dim negative", _with_config("model", "hidden_dim", -5), "config.model.hidden_dim: must be >= 1"),
    ("hidden_dim 1e7", _with_config("model", "hidden_dim", 1e7), "config.model.hidden_dim: must be an integer"),
    ("unknown kind", _with_config("model", "kind", "x" * 500), "config.model.kind"),
    ("format_version text", lambda s: s.__setitem__("format_version", "9"), "format_version must be an integer"),
    ("format_version 9", lambda s: s.__setitem__("format_version", 9), "version 9"),
    ("NaN weights", _nan_weight, "NaN or inf"),
]


@pytest.mark.parametrize("case,change,says", BAD_CHECKPOINTS, ids=[c[0] for c in BAD_CHECKPOINTS])
def test_bad_checkpoint_is_refused_naming_it_and_the_key(shard_dir, tmp_path, capsys, case, change, says):
    state = _state()
    change(state)
    path = tmp_path / "checkpoint.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match=says):
        load_checkpoint(path, device="cpu")
    assert main(["evaluate", *shard_args(shard_dir), "--checkpoint", str(path), "--out", str(tmp_path / "ev"),
                 "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and says in err and err.count("\n") == 1, err
    refused(err, path)


def test_a_checkpoint_that_is_a_symlink_is_not_followed(shard_dir, tmp_path, capsys):
    path = tmp_path / "checkpoint.pt"
    path.symlink_to(outside_file(tmp_path, "passwd", b"root:x:0:0:root:/root:/bin/bash\n"))
    assert main(["evaluate", *shard_args(shard_dir), "--checkpoint", str(path), "--out", str(tmp_path / "ev")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "symbolic link" in err and "root:x" not in err
    refused(err, path)


class _NotWeights:
    pass


@pytest.mark.parametrize("content,says", [
    ({"layer": "not a tensor"}, "not a torch state dict"), (_NotWeights(), "holds Python objects"),
])
def test_i3d_weights_that_are_not_a_state_dict_name_the_file(tmp_path, content, says):
    from avgzsl_extractors.i3d import create_i3d

    path = tmp_path / "i3d.pt"
    torch.save(content, path)
    with pytest.raises(ValueError) as err:
        create_i3d(weights=str(path))
    assert str(path) in str(err.value) and says in str(err.value)
    assert "weights_only" not in str(err.value)
