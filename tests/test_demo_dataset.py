import hashlib
from pathlib import Path

import av
import numpy as np
import pytest

from avgzsl.datasets.audiosetzsl import read_audiosetzsl_class_list
from avgzsl.datasets.demo import (
    DEMO_CLASSES,
    DEMO_UNSEEN,
    DemoConfig,
    class_properties,
    demo_manifest,
    render_clip,
    render_clips,
    render_demo,
)
from avgzsl.formats.manifest import ClassTable, read_manifest

SPLIT_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "audiosetzsl" / "class-split"
SMALL = DemoConfig(trn_per_class=1, val_per_class=0, tst_per_class=1, seconds=1.0, size=64)


def _decode(path):
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        info = (video.codec_context.name, video.width, video.height, audio.codec_context.name, audio.rate)
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    with av.open(str(path)) as container:
        wave = np.concatenate([f.to_ndarray()[0] for f in container.decode(audio=0)])
    return info, np.stack(frames), wave


def test_manifest_shape_and_split():
    manifest = demo_manifest(DemoConfig(), shard_size=100)
    assert len(manifest) == 33 * (8 + 3 + 4)
    assert list(manifest.columns) == ["clip_id", "class", "split", "path", "start", "end", "shard"]
    assert manifest["clip_id"].is_unique
    assert manifest["shard"].max() == (len(manifest) - 1) // 100
    per_split = manifest.groupby("split")["class"].nunique()
    assert (per_split == 33).all()  # unseen classes keep trn clips, as AudioSetZSL does
    assert set(DEMO_UNSEEN) <= set(manifest.loc[manifest["split"] == "trn", "class"])
    assert (manifest["end"] - manifest["start"] == 4.0).all()


@pytest.mark.skipif(not SPLIT_DIR.is_dir(), reason="AudioSetZSL split lists not present")
def test_classes_match_audiosetzsl():
    assert list(DEMO_CLASSES) == read_audiosetzsl_class_list(SPLIT_DIR / "all_class.txt")
    assert set(DEMO_UNSEEN) == set(read_audiosetzsl_class_list(SPLIT_DIR / "unseen_class.txt"))


def test_clip_decodes_with_both_streams_and_is_deterministic(tmp_path):
    a = render_clip("church-bell", "church-bell_tst_00", tmp_path / "a.mp4", SMALL)
    b = render_clip("church-bell", "church-bell_tst_00", tmp_path / "b.mp4", SMALL)
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    info, frames, wave = _decode(a)
    assert info == ("h264", 64, 64, "aac", 16000)
    assert frames.shape == (25, 64, 64, 3)
    assert abs(len(wave) - 16000) <= 2048  # AAC priming/padding
    assert np.abs(wave).max() > 0.05
    other = render_clip("church-bell", "church-bell_tst_01", tmp_path / "c.mp4", SMALL)
    assert other.read_bytes() != a.read_bytes()  # per-clip variation


def _stats(path):
    _, frames, wave = _decode(path)
    colour = frames.reshape(-1, 3).mean(axis=0) / 255.0
    windows = np.lib.stride_tricks.sliding_window_view(wave, 512)[::256] * np.hanning(512)
    spectrum = (np.abs(np.fft.rfft(windows, axis=1)) ** 2).mean(axis=0)  # Welch average
    freqs = np.fft.rfftfreq(512, 1 / 16000)
    peak = freqs[1:][spectrum[1:].argmax()]  # the tone's fundamental: pitch
    centroid = (freqs * spectrum).sum() / spectrum.sum()
    return colour, np.log2([peak, centroid])


def test_classes_close_in_text_space_render_alike(tmp_path):
    # dog/cat are the closest pair of GloVe class vectors, cashbox is the class farthest from dog
    stats = {
        name: _stats(render_clip(name, f"{name}_trn_00", tmp_path / f"{name}.mp4", SMALL))
        for name in ("dog", "cat", "cashbox")
    }
    for modality in (0, 1):
        near = np.linalg.norm(stats["dog"][modality] - stats["cat"][modality])
        far = np.linalg.norm(stats["dog"][modality] - stats["cashbox"][modality])
        assert near < 0.5 * far, (modality, near, far)


def test_properties_are_smooth_in_unit_range():
    props = class_properties(DemoConfig())
    assert list(props.index) == list(DEMO_CLASSES)
    assert ((props >= 0) & (props <= 1)).all().all()
    # shared dims drive both modalities; modality-only dims differ between modalities
    np.testing.assert_allclose(props["bg_hue"], props["pitch"])
    assert not np.allclose(props["blob_speed"], props["am_rate"])


def test_render_demo_writes_manifest_classes_and_resumes(tmp_path):
    manifest = render_demo(tmp_path, SMALL, shard_size=20)
    assert len(manifest) == 66
    assert all((tmp_path / p).is_file() for p in manifest["path"])
    table = ClassTable.read(tmp_path / "classes.tsv")
    assert table.names == list(DEMO_CLASSES) and set(table.unseen_names) == set(DEMO_UNSEEN)
    on_disk = read_manifest(tmp_path / "manifest.csv")
    assert list(on_disk["clip_id"]) == list(manifest["clip_id"])
    shard = manifest[manifest["shard"] == 1]
    report = render_clips(shard, tmp_path, SMALL)
    assert not report["rendered"].any()  # already there: kept
    assert not list(tmp_path.rglob("*.tmp"))


def test_config_validation():
    with pytest.raises(ValueError, match="even"):
        DemoConfig(size=63)
