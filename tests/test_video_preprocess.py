"""Frame preprocessing, windowing and batched clip features, on synthetic frames (no real weights)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from avgzsl_extractors.i3d import create_i3d
from avgzsl_extractors.video import (
    VideoFeatureConfig,
    clip_features,
    clip_windows,
    preprocess_frames,
    video_features,
    window_starts,
)
from torch import nn

SMALL = VideoFeatureConfig(crop_size=16, resize_short_side=20, window_frames=9, window_stride=9, batch_windows=3)


def frames(t: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(t, h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("hw", [(720, 1280), (1280, 720), (144, 176), (7, 5)])
def test_preprocess_any_aspect_and_size(hw):
    cfg = VideoFeatureConfig(crop_size=32, resize_short_side=40)
    x = preprocess_frames(frames(3, *hw), cfg)
    assert x.shape == (3, 3, 32, 32) and x.dtype == torch.float32
    assert x.min() >= -1.0 and x.max() <= 1.0


def test_preprocess_default_kinetics_crop_on_tiny_frames():
    clip = frames(2, 144, 176)
    clip.flags.writeable = False  # read-only input (e.g. a memmap) must work without copying first
    x = preprocess_frames(clip, VideoFeatureConfig())
    assert x.shape == (3, 2, 224, 224)


def test_value_range_and_channel_order():
    rgb = np.zeros((1, 24, 30, 3), np.uint8)
    rgb[..., 0] = 255  # pure red; 0 must map to -1 and 255 to +1, channel 0 first
    x = preprocess_frames(rgb, VideoFeatureConfig(crop_size=16, resize_short_side=24))
    torch.testing.assert_close(x[0], torch.ones(1, 16, 16))
    torch.testing.assert_close(x[1:], -torch.ones(2, 1, 16, 16))


def test_centre_crop_of_a_portrait_frame():
    # Top half white, bottom half black; a 20-tall crop from the middle of a 40-tall frame keeps both.
    img = np.zeros((1, 40, 20, 3), np.uint8)
    img[:, :20] = 255
    x = preprocess_frames(img, VideoFeatureConfig(crop_size=20, resize_short_side=20))
    assert x.shape == (3, 1, 20, 20)
    assert x[:, 0, :10].min() == 1.0 and x[:, 0, 10:].max() == -1.0


def test_preprocess_chunking_does_not_change_results():
    clip = frames(7, 50, 70)
    a = preprocess_frames(clip, VideoFeatureConfig(crop_size=32, resize_short_side=40, resize_chunk_frames=2))
    b = preprocess_frames(clip, VideoFeatureConfig(crop_size=32, resize_short_side=40))
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_preprocess_rejects_bad_input():
    with pytest.raises(TypeError):
        preprocess_frames(frames(2, 8, 8).astype(np.float32), SMALL)
    with pytest.raises(ValueError):
        preprocess_frames(np.zeros((0, 8, 8, 3), np.uint8), SMALL)
    with pytest.raises(ValueError):
        preprocess_frames(np.zeros((2, 8, 8, 4), np.uint8), SMALL)
    with pytest.raises(ValueError):
        VideoFeatureConfig(window_frames=8)
    with pytest.raises(ValueError):
        VideoFeatureConfig(crop_size=224, resize_short_side=200)


def test_single_frame_clip_is_repeated_into_one_window():
    x = preprocess_frames(frames(1, 30, 40), SMALL)
    w = clip_windows(x, SMALL)
    assert w.shape == (1, 3, 9, 16, 16)
    assert torch.equal(w[0], x.expand(-1, 9, -1, -1))


def test_short_clip_pads_with_its_last_frame():
    x = preprocess_frames(frames(4, 30, 40), SMALL)
    w = clip_windows(x, SMALL)
    assert w.shape == (1, 3, 9, 16, 16)
    assert torch.equal(w[0, :, :4], x)
    assert torch.equal(w[0, :, 4:], x[:, 3:4].expand(-1, 5, -1, -1))


def test_window_starts_cover_the_tail():
    cfg = VideoFeatureConfig(window_frames=64, window_stride=64)
    assert window_starts(10, cfg) == [0]
    assert window_starts(64, cfg) == [0]
    assert window_starts(128, cfg) == [0, 64]
    assert window_starts(250, cfg) == [0, 64, 128, 186]
    assert window_starts(100, VideoFeatureConfig(window_frames=64, window_stride=16)) == [0, 16, 32, 36]


@pytest.mark.parametrize("frames_,stride,aligned,drop", [
    (250, 64, [0, 64, 128, 186], [0, 64, 128]),  # tail of 58 frames: one more window, or none
    (128, 64, [0, 64], [0, 64]),  # the hop ends on the last frame: both rules agree
    (100, 16, [0, 16, 32, 36], [0, 16, 32]),
    (40, 64, [0], [0]),  # shorter than a window: padded, one window
])
def test_tail_window_rule_is_explicit(frames_, stride, aligned, drop):
    assert window_starts(frames_, VideoFeatureConfig(window_frames=64, window_stride=stride)) == aligned
    assert window_starts(frames_, VideoFeatureConfig(window_frames=64, window_stride=stride,
                                                     tail_window="aligned")) == aligned
    assert window_starts(frames_, VideoFeatureConfig(window_frames=64, window_stride=stride,
                                                     tail_window="drop")) == drop


def test_tail_window_weights_in_the_clip_mean():
    """aligned: the frames shared by the last two windows count twice; drop: each averaged frame once."""
    clip = torch.arange(12, dtype=torch.float32).view(1, 12, 1, 1).expand(3, 12, 16, 16)  # frame k has value k
    model = MeanModel()
    for rule, want in (("aligned", (np.mean(range(0, 9)) + np.mean(range(3, 12))) / 2), ("drop", np.mean(range(9)))):
        cfg = VideoFeatureConfig(crop_size=16, resize_short_side=16, window_frames=9, window_stride=9,
                                 tail_window=rule, batch_windows=3)
        out = clip_features(model, [clip], cfg)
        assert out[0, 0] == pytest.approx(want)


def test_tail_window_rejects_unknown_rule():
    with pytest.raises(ValueError, match="tail_window"):
        VideoFeatureConfig(tail_window="pad")


def test_decoder_sized_frames_are_cropped_without_resizing(monkeypatch):
    """Frames whose short side is already resize_short_side (what the decoder delivers) skip interpolation."""
    import avgzsl_extractors.video as video

    calls = []
    real = video.F.interpolate
    monkeypatch.setattr(video.F, "interpolate", lambda *a, **k: calls.append(1) or real(*a, **k))
    cfg = VideoFeatureConfig(crop_size=16, resize_short_side=20, window_frames=9, window_stride=9)
    x = preprocess_frames(frames(3, 20, 35), cfg)
    assert calls == [] and x.shape == (3, 3, 16, 16)
    preprocess_frames(frames(3, 30, 40), cfg)
    assert calls == [1]


class MeanModel(nn.Module):
    """Stand-in for I3D: a window's 'feature' is its per-channel mean, so clip means are checkable."""

    def __init__(self):
        super().__init__()
        self.calls: list[int] = []

    def features(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(x.shape[0])
        assert x.shape[1:] == (3, 9, 16, 16)
        return x.mean(dim=(2, 3, 4)).repeat(1, 4)  # (B,3) -> (B,12)


def test_video_features_batches_windows_across_clips_and_averages():
    clips = [frames(20, 30, 40, seed=1), frames(1, 144, 176, seed=2), frames(9, 176, 144, seed=3)]
    model = MeanModel()
    out = video_features(model, clips, SMALL, "cpu")
    # windows per clip: 20 frames -> starts [0, 9, 11]; 1 -> 1; 9 -> 1: five windows, batches of 3 + 2
    assert model.calls == [3, 2]
    assert out.shape == (3, 12) and out.dtype == np.float32
    for i, clip in enumerate(clips):
        w = clip_windows(preprocess_frames(clip, SMALL), SMALL)
        want = w.mean(dim=(2, 3, 4)).mean(dim=0).repeat(4).numpy()
        np.testing.assert_allclose(out[i], want, atol=1e-6)
    # Preprocessing elsewhere (e.g. in decode threads) and passing tensors gives the same features.
    pre = clip_features(MeanModel(), [preprocess_frames(c, SMALL) for c in clips], SMALL, "cpu")
    np.testing.assert_array_equal(pre, out)


def test_video_features_with_a_random_i3d():
    torch.manual_seed(0)
    model = create_i3d(weights=None)
    clips = [frames(12, 144, 176), frames(1, 40, 30)]
    out = video_features(model, clips, SMALL, torch.device("cpu"))
    assert out.shape == (2, 1024) and np.isfinite(out).all()
    assert video_features(model, [], SMALL).shape == (0, 1024)
