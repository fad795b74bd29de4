"""Temporal extraction from raw clips (extract.features: temporal): demo clips through the workflow's audio and
video extraction steps write sequence shards beside the averaged shards, from the same pass.

The audio CNN's averaged feature is its last map averaged over frequency and time; the sequence pools that map's
time columns (one every 2^pools log-mel frames) into windows. I3D's averaged feature is the mean of its windows;
the sequence is those windows. So a sequence's mean is the averaged feature wherever the two cover the same
columns or frames: always for video, for audio on a clip as long as `decode.max_seconds` (shorter clips are
wrapped to that length for the averaged feature, while their sequence stops with the clip).
"""

from __future__ import annotations

import math

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from avgzsl_extractors.audio_cnn import AudioCNNConfig, create_audio_cnn, save_checkpoint
from avgzsl_extractors.i3d import create_i3d
from avgzsl_extractors.shard_collector import Prepared, ShardCollector

from avgzsl.datasets.demo import DemoConfig, render_clip
from avgzsl.formats.sequence_shards import read_sequence_shard
from avgzsl.formats.shards import read_feature_shard, read_status_table
from avgzsl.pipeline.extraction_steps import extract_audio_step
from avgzsl.pipeline.video_steps import extract_video_step

SECONDS = {"dog_short": 1.0, "cat_mid": 2.0, "bus_full": 3.0}  # bus_full: as long as max_seconds
FPS, MAX_SECONDS = 8, 3.0
DECODE = {"sample_rate": 16000, "fps": float(FPS), "max_seconds": MAX_SECONDS, "short_side": 64}
LOGMEL = {"n_fft": 400, "hop_length": 160, "n_mels": 32, "fmin": 125.0, "fmax": 7500.0}
CNN = AudioCNNConfig(n_mels=32, channels=(4, 8, 8, 16, 16, 16, 1024))  # 4 time poolings: 16 frames a column
COLUMN_S = 16 * LOGMEL["hop_length"] / DECODE["sample_rate"]
VIDEO = {"weights": "i3d.pt", "fps": float(FPS), "crop_size": 64, "resize_short_side": 64, "window_frames": 9,
         "window_stride": 4, "tail_window": "aligned", "batch_clips": 2}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("temporal")
    rows = []
    for clip_id, seconds in SECONDS.items():
        path = render_clip(clip_id.split("_")[0], clip_id, root / f"{clip_id}.mp4",
                           DemoConfig(seconds=seconds, size=64, fps=FPS))
        rows.append({"clip_id": clip_id, "path": str(path)})
    (root / "text.mp4").write_text("not a video")
    rows.append({"clip_id": "z_broken", "path": str(root / "text.mp4")})
    media = root / "media.tsv"
    pd.DataFrame(rows).assign(start="", end="", status="ok", reason="").to_csv(media, sep="\t", index=False)
    torch.manual_seed(0)
    save_checkpoint(root / "cnn.pt", create_audio_cnn(n_classes=2, config=CNN), CNN, ["a", "b"])
    torch.save(create_i3d(weights=None).state_dict(), root / "i3d.pt")
    return root


def _audio(inputs, out, temporal=None):
    extract_audio_step(media=str(inputs / "media.tsv"), model=str(inputs / "cnn.pt"), decode=DECODE, logmel=LOGMEL,
                       device="cpu", threads=1, out_features=str(out / "audio.h5"), out_status=str(out / "audio.tsv"),
                       temporal=temporal, out_sequences=str(out / "audio_seq.h5") if temporal else None)


def _video(inputs, out, sequences=False):
    extract_video_step(media=str(inputs / "media.tsv"), weights_file=str(inputs / "i3d.pt"), decode=DECODE,
                       video=VIDEO, device="cpu", threads=1, out_features=str(out / "video.h5"),
                       out_status=str(out / "video.tsv"), out_sequences=str(out / "video_seq.h5") if sequences else None)


def _temporal(window_columns: int, hop_columns: int) -> dict:
    return {"audio_window_s": window_columns * COLUMN_S, "audio_hop_s": hop_columns * COLUMN_S,
            "audio_tail_window": "aligned"}


def _aligned_windows(steps: int, window: int, hop: int) -> int:
    """Windows of `window` steps every `hop`, plus one ending on the last step when the hop misses it."""
    return 1 if steps <= window else 1 + math.ceil((steps - window) / hop)


@pytest.fixture(scope="module")
def extracted(inputs, tmp_path_factory):
    """The same clips without and with sequences (audio windows of one column: they tile every clip)."""
    plain, temporal = tmp_path_factory.mktemp("plain"), tmp_path_factory.mktemp("temporal_out")
    _audio(inputs, plain)
    _video(inputs, plain)
    _audio(inputs, temporal, _temporal(1, 1))
    _video(inputs, temporal, sequences=True)
    return plain, temporal


@pytest.mark.parametrize("modality", ["audio", "video"])
def test_averaged_shards_are_unchanged_by_writing_sequences(extracted, modality):
    plain, temporal = extracted
    assert (temporal / f"{modality}.h5").read_bytes() == (plain / f"{modality}.h5").read_bytes()
    assert (temporal / f"{modality}.tsv").read_bytes() == (plain / f"{modality}.tsv").read_bytes()


@pytest.mark.parametrize("modality", ["audio", "video"])
def test_sequences_hold_the_averaged_shards_clips_and_not_the_broken_one(extracted, modality):
    _, out = extracted
    seqs, feats = read_sequence_shard(out / f"{modality}_seq.h5"), read_feature_shard(out / f"{modality}.h5")
    assert seqs.ids == feats.ids == list(SECONDS)  # manifest order
    assert seqs.modality == modality and seqs.dim == feats.features.shape[1]
    status = read_status_table(out / f"{modality}.tsv").set_index("clip_id")
    assert status.loc["z_broken", "status"] == "skipped"


def test_sequence_lengths_follow_the_clip_lengths(extracted):
    _, out = extracted
    audio = read_sequence_shard(out / "audio_seq.h5")
    video = read_sequence_shard(out / "video_seq.h5")
    for clip_id, seconds in SECONDS.items():
        frames = 1 + round(seconds * DECODE["sample_rate"]) // LOGMEL["hop_length"]  # centred log-mel frames
        assert audio.sequence(audio.ids.index(clip_id)).shape[0] == math.ceil(frames / 16)
        expected = _aligned_windows(round(seconds * FPS), VIDEO["window_frames"], VIDEO["window_stride"])
        assert video.sequence(video.ids.index(clip_id)).shape[0] == expected
    assert len(set(audio.lengths.tolist())) == len(set(video.lengths.tolist())) == len(SECONDS)


def test_shard_attributes_carry_window_and_hop(extracted):
    _, out = extracted
    with h5py.File(out / "audio_seq.h5") as f:
        assert f.attrs["window_s"] == pytest.approx(COLUMN_S) and f.attrs["hop_s"] == pytest.approx(COLUMN_S)
    with h5py.File(out / "video_seq.h5") as f:
        assert f.attrs["window_s"] == pytest.approx(VIDEO["window_frames"] / FPS)
        assert f.attrs["hop_s"] == pytest.approx(VIDEO["window_stride"] / FPS)
    assert read_sequence_shard(out / "audio_seq.h5").settings["sequence"]["window_columns"] == 1


def test_video_sequence_mean_is_the_averaged_feature(extracted):
    _, out = extracted
    seqs, feats = read_sequence_shard(out / "video_seq.h5"), read_feature_shard(out / "video.h5")
    np.testing.assert_allclose(seqs.means(), feats.features, rtol=1e-6, atol=1e-7)


def test_audio_sequence_mean_is_the_averaged_feature_where_the_columns_coincide(extracted):
    _, out = extracted
    seqs, feats = read_sequence_shard(out / "audio_seq.h5"), read_feature_shard(out / "audio.h5")
    full = seqs.ids.index("bus_full")
    scale = np.abs(feats.features[full]).max()
    np.testing.assert_allclose(seqs.means()[full], feats.features[full], rtol=1e-5, atol=1e-6 * scale)
    # a shorter clip's averaged feature also sees its wrapped repeat, which the sequence leaves out
    short = seqs.ids.index("dog_short")
    assert not np.allclose(seqs.means()[short], feats.features[short], rtol=1e-5, atol=1e-6 * scale)


def test_wider_audio_windows_pool_the_columns(inputs, extracted, tmp_path):
    _audio(inputs, tmp_path, _temporal(3, 2))
    wide, columns = read_sequence_shard(tmp_path / "audio_seq.h5"), read_sequence_shard(extracted[1] / "audio_seq.h5")
    assert wide.window_s == pytest.approx(3 * COLUMN_S) and wide.hop_s == pytest.approx(2 * COLUMN_S)
    for i, clip_id in enumerate(wide.ids):
        cols = columns.sequence(columns.ids.index(clip_id))
        assert wide.sequence(i).shape[0] == _aligned_windows(len(cols), 3, 2)
        np.testing.assert_allclose(wide.sequence(i)[1], cols[2:5].mean(axis=0), rtol=1e-5, atol=1e-9)
    assert (tmp_path / "audio.h5").read_bytes() == (extracted[0] / "audio.h5").read_bytes()


def test_a_clip_whose_sequence_is_not_finite_is_skipped_from_both_outputs():
    def embed(items):  # item: a clip's window count; clip "b" has a NaN window
        out = np.ones((len(items), 4), np.float32)
        seqs = [np.full((n, 4), np.nan if n == 2 else 1.0, np.float32) for n in items]
        return out, seqs

    collector = ShardCollector(embed, batch_size=2, dim=4, sequences=True)
    for clip_id, windows in (("a", 1), ("b", 2), ("c", 3)):
        collector.add(Prepared(clip_id, windows, "", 0.0))
    collector.flush()
    assert collector.kept_ids == ["a", "c"] and [len(s) for s in collector.kept_sequences] == [1, 3]
    assert collector.reasons["b"] == "embedding has NaN or inf"


def test_sequences_of_the_wrong_width_stop_the_job():
    collector = ShardCollector(lambda items: (np.ones((1, 4)), [np.ones((2, 3))]), batch_size=1, dim=4,
                               sequences=True)
    with pytest.raises(ValueError, match="sequences of shapes"):
        collector.add(Prepared("a", 1, "", 0.0))


def test_a_shard_of_only_broken_clips_writes_an_empty_readable_sequence_shard(inputs, tmp_path):
    media = pd.read_csv(inputs / "media.tsv", sep="\t", dtype=str, keep_default_na=False)
    media[media["clip_id"] == "z_broken"].to_csv(tmp_path / "media.tsv", sep="\t", index=False)
    extract_video_step(media=str(tmp_path / "media.tsv"), weights_file=str(inputs / "i3d.pt"), decode=DECODE,
                       video=VIDEO, device="cpu", threads=1, out_features=str(tmp_path / "video.h5"),
                       out_status=str(tmp_path / "video.tsv"), out_sequences=str(tmp_path / "video_seq.h5"))
    seqs = read_sequence_shard(tmp_path / "video_seq.h5")
    assert seqs.ids == [] and seqs.values.shape == (0, 1024)
    assert read_status_table(tmp_path / "video.tsv")["status"].tolist() == ["skipped"]
