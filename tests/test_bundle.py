"""Bundles opened safely, class names parsed and vectorised, clips ranked: the parts that need no trained run
(the end to end checks, exactness included, are in tests/test_bundle_workflow.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from avgzsl_extractors.text import TextVectorError

from avgzsl.inference.bundle import MANIFEST, PARTS, BundleError, open_bundle, sha256_file
from avgzsl.inference.clip_features import ClipFeatures, list_clips
from avgzsl.inference.ranking import name_vectors, parse_class_names, predict_rows, row_for, search_rows

SETTINGS = {"run": {"experiment": "x", "protocol": "paper"}, "extraction": {"audio": {}},
            "calibration_beta": {"both": 0.5}}


def _fake_bundle(root: Path, text: dict) -> Path:
    """A bundle whose torch parts are placeholders: opening verifies bytes, it loads no model."""
    root.mkdir()
    (root / "checkpoint.pt").write_bytes(b"PK placeholder checkpoint")
    (root / "audio_cnn.pt").write_bytes(b"PK placeholder audio cnn")
    (root / "classes.tsv").write_text("name\tseen\ndog\t1\ncat\t0\n")
    (root / "settings.json").write_text(json.dumps({**SETTINGS, "text": text}))
    parts = {name: {"sha256": sha256_file(root / name)} for name in PARTS}
    (root / MANIFEST).write_text(json.dumps({"format": "avgzsl-bundle", "format_version": 1, "parts": parts}))
    return root


@pytest.fixture
def vectors(tmp_path) -> Path:
    path = tmp_path / "words.txt"
    path.write_text("4 3\ndog 1 0 0\nbark 0 1 0\nchurch 0 0 1\nbell 1 1 0\n")
    return path


@pytest.fixture
def bundle_dir(tmp_path, vectors) -> Path:
    text = {"source": vectors.name, "normalize": True, "binary": False, "limit": None,
            "sha256": sha256_file(vectors)}
    return _fake_bundle(tmp_path / "bundle", text)


def test_an_intact_bundle_opens(bundle_dir):
    bundle = open_bundle(bundle_dir)
    assert bundle.classes.names == ["dog", "cat"] and bundle.run["experiment"] == "x"


def test_a_changed_part_is_refused_by_name(bundle_dir):
    (bundle_dir / "audio_cnn.pt").write_bytes(b"PK another network")
    with pytest.raises(BundleError, match="'audio_cnn.pt'.*refused"):
        open_bundle(bundle_dir)


def test_a_part_linked_out_of_the_bundle_is_refused(bundle_dir, tmp_path):
    outside = tmp_path / "elsewhere.tsv"
    outside.write_bytes((bundle_dir / "classes.tsv").read_bytes())  # same bytes: the link itself is refused
    (bundle_dir / "classes.tsv").unlink()
    os.symlink(outside, bundle_dir / "classes.tsv")
    with pytest.raises(BundleError, match="'classes.tsv' is a symbolic link"):
        open_bundle(bundle_dir)


def test_a_manifest_naming_a_path_outside_is_refused(bundle_dir):
    manifest = json.loads((bundle_dir / MANIFEST).read_text())
    manifest["parts"]["../secret"] = {"sha256": "0" * 64}
    (bundle_dir / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="not a file name in the bundle"):
        open_bundle(bundle_dir)


def test_a_newer_format_is_refused(bundle_dir):
    manifest = json.loads((bundle_dir / MANIFEST).read_text())
    (bundle_dir / MANIFEST).write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(BundleError, match="version 99"):
        open_bundle(bundle_dir)


def test_class_names_from_a_list_a_file_or_a_class_table(tmp_path):
    assert parse_class_names("dog, church bell ,cat") == ["dog", "church bell", "cat"]
    listed = tmp_path / "names.txt"
    listed.write_text("dog\n\nchurch-bell\n")
    assert parse_class_names(str(listed)) == ["dog", "church-bell"]
    table = tmp_path / "classes.tsv"
    table.write_text("name\tseen\ndog\t1\ncat\t0\n")
    assert parse_class_names(str(table)) == ["dog", "cat"]
    with pytest.raises(ValueError, match="given twice"):
        parse_class_names("dog,dog")


def test_names_follow_the_training_rule_and_a_name_without_vector_is_named(bundle_dir, vectors):
    bundle = open_bundle(bundle_dir)
    text = name_vectors(bundle, ["dog", "church bell"], str(vectors)).numpy()
    np.testing.assert_allclose(text[0], [1, 0, 0])
    np.testing.assert_allclose(text[1], np.full(3, 3 ** -0.5), rtol=1e-6)  # mean of church and bell
    with pytest.raises(TextVectorError, match="'zebra'"):
        name_vectors(bundle, ["dog", "zebra"], str(vectors))
    with pytest.raises(ValueError, match="--word-vectors"):
        name_vectors(bundle, ["dog"])


def test_other_word_vectors_than_the_runs_are_refused(bundle_dir, tmp_path):
    other = tmp_path / "other" / "words.txt"
    other.parent.mkdir()
    other.write_text("1 3\ndog 0 1 0\n")
    with pytest.raises(TextVectorError, match="sha256"):
        name_vectors(open_bundle(bundle_dir), ["dog"], str(other))


def _clips() -> ClipFeatures:
    present = {"audio": np.array([True, False, True]), "video": np.array([True, True, False])}
    features = {m: np.zeros((3, 2), np.float32) for m in present}
    return ClipFeatures(["a.mp4", "b.mp4", "c.wav"], features, present,
                        {"audio": {"b.mp4": "no audio stream"}, "video": {"c.wav": "no video stream"}})


def test_a_clip_lacking_a_modality_is_scored_on_what_it_has_and_says_so(bundle_dir):
    clips = _clips()
    both = np.array([[0.3, 0.1], [0.2, 0.4], [0.5, 0.6]], np.float32)
    video = np.array([[0.0, 1.0], [0.9, 0.1], [0.0, 0.0]], np.float32)
    distances = {"both": both, "video": video, "audio": both}
    rows = predict_rows(clips, ["dog", "cat"], distances, modality="video", top_k=1)
    by_clip = {r["clip"]: r for r in rows}
    assert len(rows) == 3 and by_clip["a.mp4"]["class"] == "dog" and by_clip["a.mp4"]["note"] == ""
    assert by_clip["b.mp4"] == {"clip": "b.mp4", "modality": "video", "rank": 1, "class": "cat",
                                "score": pytest.approx(0.1), "note": "no audio: no audio stream"}
    assert by_clip["c.wav"]["modality"] == "audio" and "no video: no video stream; scored on audio" == \
        by_clip["c.wav"]["note"]
    rows = predict_rows(clips, ["dog", "cat"], distances, modality="both")
    assert [r["rank"] for r in rows if r["clip"] == "b.mp4"] == [1, 2]
    assert all(r["modality"] == "both" for r in rows)
    assert "scored on the modality it has" in rows[2]["note"]


def test_row_choice_falls_back_to_what_a_clip_has():
    rows = {"audio": 0, "video": 0, "both": 0}
    assert row_for("audio", {"audio": False, "video": True}, rows) == "video"
    assert row_for("both", {"audio": False, "video": True}, rows) == "both"
    assert row_for("both", {"audio": False, "video": True}, {"audio": 0}) is None
    assert row_for("video", {"audio": False, "video": False}, rows) is None


def test_search_ranks_the_clips_a_row_scores():
    clips = _clips()
    audio = np.array([[0.4, 0.0], [0.0, 0.0], [0.1, 0.9]], np.float32)
    rows = search_rows(clips, ["dog", "cat"], {"audio": audio}, modality="audio")
    assert [(r["query"], r["rank"], r["clip"]) for r in rows] == [
        ("dog", 1, "c.wav"), ("dog", 2, "a.mp4"), ("cat", 1, "a.mp4"), ("cat", 2, "c.wav")]
    with pytest.raises(ValueError, match="no video row"):
        search_rows(clips, ["dog"], {"audio": audio}, modality="video")


def test_folders_give_their_media_files_in_order(tmp_path):
    (tmp_path / "clips" / "sub").mkdir(parents=True)
    for name in ("b.mp4", "a.wav", "sub/c.MKV", "notes.txt"):
        (tmp_path / "clips" / name).write_bytes(b"x")
    found = list_clips([str(tmp_path / "clips"), str(tmp_path / "clips" / "a.wav")])
    assert [p.name for p in found] == ["a.wav", "b.mp4", "c.MKV"]
    with pytest.raises(FileNotFoundError, match="no such clip"):
        list_clips([str(tmp_path / "missing.mp4")])
