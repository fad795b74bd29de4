"""Shard jobs: features for good clips, a status row (with reason) for every clip, nothing left on failure."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from avgzsl_extractors.decode import DecodeConfig
from avgzsl_extractors.extract import (
    ExtractJobConfig,
    extract_audio_shard,
    extract_video_shard,
    load_audio_for_training,
)
from avgzsl_extractors.logmel import LogMelConfig
from media import make_clip, truncate

from avgzsl.formats.shards import read_feature_shard, read_status_table

DECODE = DecodeConfig(max_seconds=2.0)
JOB = ExtractJobConfig(workers=2, lookahead=4, progress=False)


def audio_embed(batch: np.ndarray) -> np.ndarray:
    """Stand-in audio net: per-band means tiled to 1024-d, (B, 64, F) -> (B, 1024)."""
    return np.tile(batch.mean(axis=2), (1, 16)).astype(np.float32)


def video_embed(frames_list: list) -> np.ndarray:
    """Stand-in video net: mean grey level and frame count, (B x (T, H, W, 3)) -> (B, 1024)."""
    out = np.zeros((len(frames_list), 1024), np.float32)
    for i, frames in enumerate(frames_list):
        out[i, 0], out[i, 1] = frames.mean(), len(frames)
    return out


@pytest.fixture(scope="module")
def shard(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    good = make_clip(root / "good.mp4", seconds=2)
    paths = {
        "a_good": good,
        "b_short": make_clip(root / "short.mp4", seconds=0.6),
        "c_empty": root / "empty.mp4",
        "d_silent_video": make_clip(root / "silent.mp4", seconds=1, with_audio=False),
        "e_sound_only": make_clip(root / "sound.m4a", seconds=1, with_video=False),
        "f_truncated": truncate(good, root / "cut.mp4", 0.4),
        "g_text": root / "page.mp4",
        "h_good": make_clip(root / "good2.mp4", seconds=2, fps=30),
    }
    paths["c_empty"].write_bytes(b"")
    paths["g_text"].write_text("not a video")
    rows = pd.DataFrame(
        {
            "clip_id": list(paths),
            "class": "dog",
            "split": "trn",
            "path": [str(p) for p in paths.values()],
            "start": 0.0,
            "end": 2.0,
        }
    )
    return rows


def _outputs(tmp_path):
    return {"out_features": tmp_path / "audio.h5", "out_status": tmp_path / "audio.tsv"}


def test_audio_shard_writes_features_and_a_status_row_per_clip(shard, tmp_path):
    summary = extract_audio_shard(
        shard, embed_fn=audio_embed, decode_cfg=DECODE, batch_size=2, settings={"model": "stand-in"}, job=JOB,
        **_outputs(tmp_path),
    )
    features = read_feature_shard(tmp_path / "audio.h5", expected_dim=1024)
    assert features.ids == ["a_good", "b_short", "e_sound_only", "h_good"]
    assert features.modality == "audio" and features.settings["model"] == "stand-in"
    assert features.settings["frames"] == 201 and features.settings["decode"]["max_seconds"] == 2.0
    status = read_status_table(tmp_path / "audio.tsv").set_index("clip_id")
    assert list(status.index) == list(shard["clip_id"])
    assert status.loc["c_empty", "reason"] == "file is empty (0 bytes)"
    assert status.loc["d_silent_video", "reason"] == "no audio stream"
    assert status.loc["f_truncated", "reason"].startswith("truncated")
    assert status.loc["g_text", "reason"].startswith("not a media file")
    assert (status.loc[features.ids, "status"] == "ok").all()
    assert (status.drop(features.ids)["status"] == "skipped").all()
    assert summary.n_ok == 4 and summary.n_skipped == 4 and summary.model_seconds >= 0


def test_video_shard_resamples_to_the_configured_rate(shard, tmp_path):
    summary = extract_video_shard(
        shard, embed_fn=video_embed, decode_cfg=DECODE, job=JOB,
        out_features=tmp_path / "video.h5", out_status=tmp_path / "video.tsv",
    )
    features = read_feature_shard(tmp_path / "video.h5")
    assert features.ids == ["a_good", "b_short", "d_silent_video", "h_good"]
    counts = dict(zip(features.ids, features.features[:, 1]))
    assert counts == {"a_good": 50, "b_short": 15, "d_silent_video": 25, "h_good": 50}
    status = read_status_table(tmp_path / "video.tsv").set_index("clip_id")
    assert status.loc["e_sound_only", "reason"] == "no video stream"
    assert summary.n_skipped == 4


def test_nan_embedding_skips_that_clip_only(shard, tmp_path):
    def embed(batch):
        out = audio_embed(batch)
        out[0, 5] = np.nan  # the first clip of every batch
        return out

    extract_audio_shard(shard, embed_fn=embed, decode_cfg=DECODE, batch_size=3, job=JOB, **_outputs(tmp_path))
    status = read_status_table(tmp_path / "audio.tsv").set_index("clip_id")
    assert status.loc["a_good", "reason"] == "embedding has NaN or inf"
    assert status.loc["h_good", "reason"] == "embedding has NaN or inf"  # batch 2 = [h_good]
    assert read_feature_shard(tmp_path / "audio.h5").ids == ["b_short", "e_sound_only"]


def test_shard_without_any_good_clip_is_still_complete(shard, tmp_path):
    bad = shard[shard["clip_id"].isin(["c_empty", "g_text"])]
    summary = extract_audio_shard(bad, embed_fn=audio_embed, decode_cfg=DECODE, job=JOB, **_outputs(tmp_path))
    features = read_feature_shard(tmp_path / "audio.h5")
    assert features.features.shape == (0, 1024) and features.ids == []
    assert len(read_status_table(tmp_path / "audio.tsv")) == 2 and summary.n_ok == 0


def test_model_failure_propagates_and_leaves_no_outputs(shard, tmp_path):
    (tmp_path / "audio.tsv").write_text("clip_id\tstatus\treason\nstale\tok\t\n")  # from an older run
    calls = []

    def embed(batch):
        calls.append(len(batch))
        if len(calls) > 1:
            raise RuntimeError("CUDA out of memory")
        return audio_embed(batch)

    with pytest.raises(RuntimeError, match="out of memory"):
        extract_audio_shard(shard, embed_fn=embed, decode_cfg=DECODE, batch_size=1, job=JOB, **_outputs(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_wrong_embedding_shape_is_a_job_error(shard, tmp_path):
    with pytest.raises(ValueError, match="returned shape"):
        extract_video_shard(
            shard, embed_fn=lambda frames: np.zeros((1, 1024)), decode_cfg=DECODE, batch_size=2, job=JOB,
            out_features=tmp_path / "v.h5", out_status=tmp_path / "v.tsv",
        )
    assert list(tmp_path.iterdir()) == []


def test_rows_without_a_path_are_skipped(shard, tmp_path):
    rows = shard.head(2).copy()
    rows.loc[rows.index[1], "path"] = np.nan
    extract_video_shard(rows, embed_fn=video_embed, decode_cfg=DECODE, job=JOB,
                        out_features=tmp_path / "v.h5", out_status=tmp_path / "v.tsv")
    status = read_status_table(tmp_path / "v.tsv")
    assert list(status["reason"]) == ["", "no media path in the manifest"]


def test_load_audio_for_training(shard):
    specs, ids, status = load_audio_for_training(shard, LogMelConfig(), DECODE, frames=150, job=JOB)
    assert specs.shape == (4, 64, 150) and specs.dtype == np.float32 and np.isfinite(specs).all()
    assert ids == ["a_good", "b_short", "e_sound_only", "h_good"]
    assert [s["clip_id"] for s in status] == list(shard["clip_id"])
    assert sum(s["status"] == "ok" for s in status) == 4


KILLED_JOB = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import numpy as np, pandas as pd
    from avgzsl_extractors.extract import ExtractJobConfig, extract_video_shard
    from avgzsl_extractors.decode import DecodeConfig

    rows = pd.read_csv(sys.argv[1])
    out = Path(sys.argv[2])
    calls = []

    def embed(frames_list):
        calls.append(1)
        if len(calls) == 2:
            (out / "first-batch-done").write_text("")
            time.sleep(60)  # killed here, mid-shard
        return np.zeros((len(frames_list), 1024), np.float32)

    extract_video_shard(rows, embed_fn=embed, decode_cfg=DecodeConfig(max_seconds=2.0), batch_size=1,
                        job=ExtractJobConfig(workers=2, progress=False),
                        out_features=out / "video.h5", out_status=out / "video.tsv")
    """
)


def test_a_job_killed_mid_shard_leaves_nothing_that_looks_finished(shard, tmp_path):
    manifest = tmp_path / "rows.csv"
    shard.to_csv(manifest, index=False)
    out = tmp_path / "out"
    out.mkdir()
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_JOB, str(manifest), str(out)], cwd=repo, env=env)
    try:
        deadline = time.monotonic() + 60
        while not (out / "first-batch-done").exists():
            assert proc.poll() is None, f"job exited early with {proc.returncode}"
            assert time.monotonic() < deadline, "job never reached its second batch"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert sorted(p.name for p in out.iterdir()) == ["first-batch-done"]


def test_silent_track_is_kept_and_flagged_in_the_status_table(tmp_path):
    rows = pd.DataFrame({
        "clip_id": ["loud", "silent"],
        "path": [str(make_clip(tmp_path / "loud.wav", seconds=0.5, with_video=False)),
                 str(make_clip(tmp_path / "silent.wav", seconds=0.5, with_video=False, amplitude=0.0))],
    })
    extract_audio_shard(rows, embed_fn=audio_embed, decode_cfg=DECODE, job=JOB,
                        out_features=tmp_path / "a.h5", out_status=tmp_path / "a.tsv")
    status = read_status_table(tmp_path / "a.tsv").set_index("clip_id")
    assert list(status["status"]) == ["ok", "ok"]  # still usable
    assert status.loc["silent", "flags"] == "silent_audio" and status.loc["loud", "flags"] == ""
    assert read_feature_shard(tmp_path / "a.h5").ids == ["loud", "silent"]


@pytest.mark.parametrize(
    "start, end, frames",
    [
        ("", "", 25),  # empty cells, as a media table read as text gives them: the whole (1 s) clip
        (" ", "", 25),
        ("0.6", "", 10),
        ("", "0.4", 10),
        (np.nan, np.nan, 25),
        (None, None, 25),
    ],
)
def test_missing_window_means_the_whole_clip(tmp_path, start, end, frames):
    rows = pd.DataFrame({"clip_id": ["c"], "path": [str(make_clip(tmp_path / "c.mp4", seconds=1))],
                         "start": [start], "end": [end]}, dtype=object)
    summary = extract_video_shard(rows, embed_fn=video_embed, decode_cfg=DECODE, job=JOB,
                                  out_features=tmp_path / "v.h5", out_status=tmp_path / "v.tsv")
    assert summary.n_ok == 1, summary.skipped
    assert read_feature_shard(tmp_path / "v.h5").features[0, 1] == frames  # video_embed's frame count


def test_bad_window_cell_is_a_skip_naming_the_clip(tmp_path):
    rows = pd.DataFrame({"clip_id": ["c"], "path": [str(make_clip(tmp_path / "c.mp4", seconds=1))],
                         "start": ["soon"], "end": [""]})
    summary = extract_video_shard(rows, embed_fn=video_embed, decode_cfg=DECODE, job=JOB,
                                  out_features=tmp_path / "v.h5", out_status=tmp_path / "v.tsv")
    assert summary.skipped == {"c": "clip c: the manifest's time 'soon' is not a number of seconds"}
