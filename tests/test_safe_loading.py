"""Files from other people never run code: crafted word-vector dictionaries and checkpoints are refused,
the error names the file, and the marker file their unpickling would create never appears."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch
from avgzsl_extractors.audio_cnn import AudioCheckpointError, load_audio_cnn
from avgzsl_extractors.i3d import create_i3d
from released_helpers import write_released

from avgzsl.cli import main
from avgzsl.datasets.released import import_released
from avgzsl.formats.safe_pickle import UnsafePickleError, load_word_vector_dict
from avgzsl.formats.torch_files import TorchFileError, load_torch_file
from avgzsl.models.registry import create_model
from avgzsl.settings.experiment import ExperimentConfig
from avgzsl.training.checkpoint import CheckpointError, _checkpoint, load_checkpoint


class _TouchesMarker:
    """Unpickling this calls os.system (or another callable) to create a marker file."""

    def __init__(self, marker, via="system"):
        self.marker, self.via = str(marker), via

    def __reduce__(self):
        if self.via == "system":
            return (os.system, (f"touch {self.marker}",))
        return (eval, (f"open({self.marker!r}, 'w').close()",))


def _object_npy(path, value) -> None:
    holder = np.empty((), dtype=object)
    holder[()] = value
    np.save(path, holder, allow_pickle=True)


NPY_CASES = [
    ("os.system in a vector", lambda m: {"dog": _TouchesMarker(m)}, "refusing to unpickle"),
    ("eval as the whole object", lambda m: _TouchesMarker(m, via="eval"), "refusing to unpickle"),
    ("a list instead of a vector", lambda m: {"dog": [0.1, 0.2]}, "1-D numeric array"),
    ("an int key", lambda m: {3: np.zeros(4)}, "not a class name"),
    ("a 2-D vector", lambda m: {"dog": np.zeros((2, 4))}, "1-D numeric array"),
    ("an object array vector", lambda m: {"dog": np.array([None, 1], dtype=object)}, "1-D numeric array"),
]


@pytest.mark.parametrize("case,content,says", NPY_CASES, ids=[c[0] for c in NPY_CASES])
def test_crafted_word_vector_file_is_refused(tmp_path, case, content, says):
    marker = tmp_path / "MARKER"
    path = tmp_path / "word_embeddings-dict.npy"
    _object_npy(path, content(marker))
    with pytest.raises(ValueError, match=says) as err:
        load_word_vector_dict(path)
    assert str(path) in str(err.value)
    assert not marker.exists()


def test_the_crafted_file_would_run_code_with_plain_numpy(tmp_path):
    """The refusal above matters: numpy's own loader runs what the file names."""
    marker = tmp_path / "MARKER"
    _object_npy(tmp_path / "evil.npy", {"dog": _TouchesMarker(marker)})
    with pytest.raises(UnsafePickleError):
        load_word_vector_dict(tmp_path / "evil.npy")
    assert not marker.exists()
    np.load(tmp_path / "evil.npy", allow_pickle=True)
    assert marker.exists()


def test_import_features_refuses_crafted_text_file(tmp_path, capsys):
    marker = tmp_path / "MARKER"
    src = write_released(tmp_path / "rel", layout="avca")
    _object_npy(src["text_file"], {n: _TouchesMarker(marker) for n in src["names"]})
    with pytest.raises(UnsafePickleError, match="word_embeddings-dict-33.npy"):
        import_released(tmp_path / "rel", tmp_path / "out")
    assert main(["import-features", str(tmp_path / "rel"), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert str(src["text_file"]) in err and "Traceback" not in err
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_released_dictionary_is_still_read(tmp_path):
    vectors = {"dog": np.arange(4, dtype=np.float32), "church-bell": np.ones(4)}
    np.save(tmp_path / "w.npy", vectors, allow_pickle=True)
    back = load_word_vector_dict(tmp_path / "w.npy")
    assert list(back) == ["dog", "church-bell"]
    assert all(np.array_equal(back[k], vectors[k]) for k in vectors)


def _tiny_model_and_config():
    cfg = ExperimentConfig.from_dict({"model": {"audio_dim": 4, "video_dim": 4, "text_dim": 3}})
    return create_model(cfg.model, cfg.loss), cfg


def test_checkpoint_holds_only_tensors_and_plain_data(tmp_path):
    model, cfg = _tiny_model_and_config()
    torch.save(_checkpoint(cfg, model, epoch=3, selected=True), tmp_path / "c.pt")
    state = torch.load(tmp_path / "c.pt", weights_only=True)  # raises on anything else
    assert state["format"] == "avgzsl-checkpoint" and state["epoch"] == 3
    loaded, loaded_cfg, _ = load_checkpoint(tmp_path / "c.pt", device="cpu")
    assert loaded_cfg == cfg
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))


def _crafted_zip(path, marker):
    model, cfg = _tiny_model_and_config()
    torch.save({"config": cfg.to_dict(), "model": model.state_dict(), "hook": _TouchesMarker(marker)}, path)


def _crafted_plain_pickle(path, marker):
    path.write_bytes(pickle.dumps({"config": {}, "model": _TouchesMarker(marker)}))


def _truncated(path, marker):
    model, cfg = _tiny_model_and_config()
    torch.save(_checkpoint(cfg, model, 1), path)
    path.write_bytes(path.read_bytes()[:300])


def _not_a_checkpoint(path, marker):
    torch.save(torch.zeros(3), path)


def _numpy_inside(path, marker):
    torch.save({"config": {}, "model": {"w": np.zeros(3)}}, path)


def _wrong_weights(path, marker):
    model, cfg = _tiny_model_and_config()
    state = _checkpoint(cfg, model, 1)
    state["config"]["model"]["audio_dim"] = 9
    torch.save(state, path)


CHECKPOINT_CASES = [
    ("code in a torch zip", _crafted_zip, "nothing in it was executed"),
    ("code in a plain pickle", _crafted_plain_pickle, "nothing in it was executed"),
    ("numpy array inside (old-style object)", _numpy_inside, "refused"),
    ("empty", lambda p, m: p.write_bytes(b""), "empty"),
    ("truncated", _truncated, "truncated or corrupt"),
    ("text file", lambda p, m: p.write_text("hello, not a checkpoint"), "not a checkpoint"),
    ("a manifest CSV", lambda p, m: p.write_text("clip_id,class,split\na,dog,trn\n"), "not a checkpoint"),
    ("code in a protocol-0 pickle", lambda p, m: p.write_bytes(pickle.dumps(_TouchesMarker(m), protocol=0)),
     "not a checkpoint"),
    ("random bytes after a zip header", lambda p, m: p.write_bytes(b"PK" + os.urandom(200)), "truncated or corrupt"),
    ("a tensor, not a checkpoint", _not_a_checkpoint, "not an avgzsl checkpoint"),
    ("weights that do not fit the config", _wrong_weights, "do not fit"),
]


@pytest.mark.parametrize("case,make,says", CHECKPOINT_CASES, ids=[c[0] for c in CHECKPOINT_CASES])
def test_bad_checkpoint_is_refused_naming_the_file(tmp_path, capsys, case, make, says):
    marker, path = tmp_path / "MARKER", tmp_path / "checkpoint.pt"
    make(path, marker)
    with pytest.raises(CheckpointError, match=says) as err:
        load_checkpoint(path, device="cpu")
    assert str(path) in str(err.value)
    assert not marker.exists()
    rc = main(["evaluate", "--checkpoint", str(path), "--manifest", str(path), "--classes", str(path),
               "--text", str(path), "--out", str(tmp_path / "ev")])
    stderr = capsys.readouterr().err
    assert rc == 1 and str(path) in stderr and "Traceback" not in stderr
    assert not marker.exists() and not (tmp_path / "ev").exists()


# every reader of a torch file goes through avgzsl.formats.torch_files, and raises its own error type
TORCH_FILE_READERS = [
    ("deep checkpoint", lambda p: load_checkpoint(p, device="cpu"), CheckpointError),
    ("audio CNN checkpoint", lambda p: load_audio_cnn(p, device="cpu"), AudioCheckpointError),
    ("I3D state dict", lambda p: create_i3d(num_classes=5, weights=p), TorchFileError),
]


def _truncated_zip(path, marker):
    torch.save({"w": torch.zeros(200)}, path)
    path.write_bytes(path.read_bytes()[:300])


TORCH_FILE_CASES = [
    ("a non-tensor global", lambda p, m: torch.save({"w": torch.zeros(2), "hook": _TouchesMarker(m)}, p),
     "nothing in it was executed"),
    ("an empty file", lambda p, m: p.write_bytes(b""), "the file is empty"),
    ("a truncated zip", _truncated_zip, "truncated or corrupt zip archive"),
    ("a folder", lambda p, m: p.mkdir(), "a folder, not"),
]


@pytest.mark.parametrize("case,make,says", TORCH_FILE_CASES, ids=[c[0] for c in TORCH_FILE_CASES])
@pytest.mark.parametrize("reader,read,error", TORCH_FILE_READERS, ids=[r[0] for r in TORCH_FILE_READERS])
def test_every_torch_file_reader_refuses_a_bad_file_naming_it(tmp_path, reader, read, error, case, make, says):
    marker, path = tmp_path / "MARKER", tmp_path / "weights.pt"
    make(path, marker)
    with pytest.raises(error, match=says) as err:
        read(path)
    assert str(err.value).startswith(f"{path}: ")
    assert isinstance(err.value, TorchFileError) and isinstance(err.value, ValueError)
    assert not marker.exists()


def test_the_loader_names_a_missing_file_and_reads_tensors_and_plain_data(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'gone.pt'} does not exist"):
        load_torch_file(tmp_path / "gone.pt")
    torch.save({"w": torch.arange(3), "name": "x", "epochs": [1, 2]}, tmp_path / "ok.pt")
    loaded = load_torch_file(tmp_path / "ok.pt")
    assert torch.equal(loaded["w"], torch.arange(3)) and loaded["name"] == "x" and loaded["epochs"] == [1, 2]
