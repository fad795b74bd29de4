"""Frame preprocessing and windowed I3D features: decoded RGB frames in, one 1024-d vector per clip out.

Why windows: I3D was trained on 64-frame Kinetics clips at 25 fps (2.56 s), and running it on a whole
10 s clip at once would cost memory that grows with the clip. So each clip is cut into fixed-length
windows of `window_frames` frames, every window goes through I3D (Mixed_5c, mean-pooled), and the
window features are averaged into one clip vector. When the hop does not end exactly on the clip's last
frame, `tail_window` decides what happens to the leftover frames: "aligned" adds one window ending on the
last frame (the tail counts, and the frames it shares with the previous window count twice in the mean),
"drop" leaves them out (every frame in the mean counts once, the last < stride frames not at all).
A clip shorter than one window is padded by
repeating its last frame: I3D needs at least 9 frames to produce a full temporal receptive field (and
its logits head needs 9 to pool), and repeating keeps the padding inside the clip's own content
instead of adding black frames the network never saw in training.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from avgzsl_extractors import windows
from avgzsl_extractors.i3d import FEATURE_DIM, MIN_LOGIT_FRAMES
from avgzsl_extractors.precision import autocast, check_autocast, to_device
from torch import nn

TAIL_WINDOWS = windows.TAIL_WINDOWS


@dataclass(frozen=True)
class VideoFeatureConfig:
    """Video preprocessing and windowing.

    fps: rate the frames were decoded at (the decoder samples to this); 25 matches Kinetics training.
    resize_short_side: the short side is resized to this before the centre crop. 256 -> 224 is the
        Kinetics evaluation recipe (the crop keeps 87.5 % of the short side); for a cheaper 112 crop use
        128 so the crop still sees the same field of view.
    crop_size: side of the square centre crop fed to I3D.
    window_frames / window_stride: window length and hop in frames (64/64 = non-overlapping 2.56 s).
    tail_window: frames left after the last full hop: "aligned" adds a window ending on the clip's last
        frame (overlapping the one before it, so the shared frames weigh twice in the clip mean), "drop"
        ignores them.
    batch_windows: windows per I3D call; bounds peak memory (a 64x224x224 window is 38 MB of input but
        peaks near 0.5 GB of activations on CPU in inference mode, measured).
    resize_chunk_frames: frames resized at once, so a long high-resolution clip is never held as float
        at full size.
    autocast: "none", "bf16" or "fp16": I3D's forward pass under torch.autocast (extractors/precision.py).
    """

    fps: float = 25.0
    crop_size: int = 224
    resize_short_side: int = 256
    window_frames: int = 64
    window_stride: int = 64
    tail_window: str = "aligned"
    batch_windows: int = 2
    resize_chunk_frames: int = 32
    autocast: str = "none"

    def __post_init__(self) -> None:
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if self.crop_size < 1 or self.resize_short_side < self.crop_size:
            raise ValueError(
                f"need 1 <= crop_size <= resize_short_side, got crop {self.crop_size}, "
                f"resize {self.resize_short_side}"
            )
        if self.window_frames < MIN_LOGIT_FRAMES:
            raise ValueError(f"window_frames must be >= {MIN_LOGIT_FRAMES} for I3D, got {self.window_frames}")
        if self.tail_window not in TAIL_WINDOWS:
            raise ValueError(f"tail_window must be one of {TAIL_WINDOWS}, got {self.tail_window!r}")
        if self.window_stride < 1 or self.batch_windows < 1 or self.resize_chunk_frames < 1:
            raise ValueError("window_stride, batch_windows and resize_chunk_frames must be >= 1")
        check_autocast(self.autocast)


def _resized_hw(h: int, w: int, short: int) -> tuple[int, int]:
    scale = short / min(h, w)
    # The short side lands exactly on `short`; the long side is rounded and never below it.
    if h <= w:
        return short, max(short, round(w * scale))
    return max(short, round(h * scale)), short


def preprocess_frames(frames: np.ndarray, cfg: VideoFeatureConfig) -> torch.Tensor:
    """uint8 RGB frames (T,H,W,3) -> float32 (3,T,crop,crop) in [-1, 1].

    Brings the short side to `cfg.resize_short_side` and takes the centre crop; portrait, landscape and
    tiny frames all go the same way. The workflow's decoder already resizes (down only) to that short side,
    and frames whose short side is already `resize_short_side` are only cropped; others (a decoder that
    kept the native size, clips smaller than the target) are resized, bilinear with antialiasing so
    downscaling 720p does not alias.
    """
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        raise TypeError(f"frames must be a uint8 numpy array, got {type(frames).__name__} "
                        f"{getattr(frames, 'dtype', '')}")
    if frames.ndim != 4 or frames.shape[3] != 3 or frames.shape[0] < 1:
        raise ValueError(f"frames must be (T>=1,H,W,3) RGB, got shape {frames.shape}")
    t, h, w, _ = frames.shape
    if h < 1 or w < 1:
        raise ValueError(f"frames have an empty side: {frames.shape}")
    rh, rw = _resized_hw(h, w, cfg.resize_short_side)
    c = cfg.crop_size
    top, left = (rh - c) // 2, (rw - c) // 2

    if (rh, rw) == (h, w):
        # no resize: crop the uint8 frames first, so only the c x c pixels are converted to float
        frames = frames[:, top:top + c, left:left + c]
        top = left = 0
        rh, rw = h, w = c, c
    out = torch.empty((t, 3, c, c), dtype=torch.float32)
    for start in range(0, t, cfg.resize_chunk_frames):
        # Converting in numpy gives a fresh writable array, so read-only inputs (memmaps) work too.
        chunk = torch.from_numpy(frames[start:start + cfg.resize_chunk_frames].astype(np.float32))
        chunk = chunk.permute(0, 3, 1, 2)  # (t,H,W,3) -> (t,3,H,W)
        if (rh, rw) != (h, w):
            chunk = F.interpolate(chunk, size=(rh, rw), mode="bilinear", align_corners=False, antialias=True)
        out[start:start + chunk.shape[0]] = chunk[:, :, top:top + c, left:left + c]  # -> (t,3,c,c)
    # [0,255] -> [-1,1]; the clamp only trims float rounding at the ends.
    out = (out / 127.5 - 1.0).clamp_(-1.0, 1.0)
    return out.permute(1, 0, 2, 3).contiguous()  # (T,3,c,c) -> (3,T,c,c)


def window_starts(num_frames: int, cfg: VideoFeatureConfig) -> list[int]:
    """First frame of every window. When the hop leaves frames uncovered at the end, `cfg.tail_window`
    "aligned" adds one more window ending on the clip's last frame (its overlap with the window before
    counts twice in the clip mean); "drop" leaves those frames out."""
    return windows.window_starts(num_frames, cfg.window_frames, cfg.window_stride, cfg.tail_window)


def clip_windows(x: torch.Tensor, cfg: VideoFeatureConfig) -> torch.Tensor:
    """(3,T,c,c) -> (W,3,window_frames,c,c); short clips are padded by repeating the last frame."""
    if x.ndim != 4 or x.shape[1] < 1:
        raise ValueError(f"expected a preprocessed clip (3,T,H,W) with T >= 1, got {tuple(x.shape)}")
    t = x.shape[1]
    if t < cfg.window_frames:
        tail = x[:, -1:].expand(-1, cfg.window_frames - t, -1, -1)
        x = torch.cat([x, tail], dim=1)  # (3,T,c,c) -> (3,window,c,c)
    starts = window_starts(x.shape[1], cfg)
    return torch.stack([x[:, s:s + cfg.window_frames] for s in starts])  # -> (W,3,window,c,c)


def clip_window_features(
    model: nn.Module,
    clips: Iterable[torch.Tensor],
    cfg: VideoFeatureConfig,
    device: torch.device | str = "cpu",
) -> list[list[torch.Tensor]]:
    """Every clip's window features, (D,) float64 each, in window order: what `clip_features` averages.

    Windows of consecutive clips share batches of `cfg.batch_windows`. `clips` (already preprocessed to
    (3,T,crop,crop)) is consumed lazily, one clip at a time.
    """
    device = torch.device(device)
    model.eval()
    per_clip: list[list[torch.Tensor]] = []
    pending: list[torch.Tensor] = []
    owners: list[int] = []

    def flush() -> None:
        batch = to_device(torch.stack(pending), device)  # (B,3,window,c,c)
        with autocast(cfg.autocast, device):
            feats = model.features(batch)  # -> (B,D)
        # float64, so clips with many windows lose no precision in the mean
        for owner, feat in zip(owners, feats.to("cpu", torch.float64)):
            per_clip[owner].append(feat)
        pending.clear()
        owners.clear()

    with torch.inference_mode():
        for i, clip in enumerate(clips):
            per_clip.append([])
            for window in clip_windows(clip, cfg):
                pending.append(window)
                owners.append(i)
                if len(pending) == cfg.batch_windows:
                    flush()
        if pending:
            flush()
    return per_clip


def window_mean(windows_of_clip: list[torch.Tensor]) -> torch.Tensor:
    """A clip's feature: its window features summed one by one in float64, divided by their count."""
    total = windows_of_clip[0].clone()
    for feat in windows_of_clip[1:]:
        total = total + feat
    return total / len(windows_of_clip)


def clip_features(
    model: nn.Module,
    clips: Iterable[torch.Tensor],
    cfg: VideoFeatureConfig,
    device: torch.device | str = "cpu",
    *,
    sequences: bool = False,
) -> np.ndarray | tuple[np.ndarray, list[np.ndarray]]:
    """(N,D) float32 features of clips already preprocessed to (3,T,crop,crop), one row per clip.

    Split from `video_features` so a caller can run `preprocess_frames` in its decode threads and
    hand only the model step to this. With `sequences`, also each clip's (W_i, D) float32 window
    features, the vectors its row averages (one I3D pass gives both).
    """
    per_clip = clip_window_features(model, clips, cfg, device)
    if not per_clip:
        means = np.zeros((0, FEATURE_DIM), dtype=np.float32)
    else:
        means = torch.stack([window_mean(w) for w in per_clip]).to(torch.float32).numpy()
    if not sequences:
        return means
    return means, [torch.stack(w).to(torch.float32).numpy() for w in per_clip]


def video_features(
    model: nn.Module,
    frames_list: Sequence[np.ndarray],
    cfg: VideoFeatureConfig,
    device: torch.device | str = "cpu",
    *,
    sequences: bool = False,
) -> np.ndarray | tuple[np.ndarray, list[np.ndarray]]:
    """One I3D feature per clip: (N,1024) float32, the mean of the clip's window features.

    `frames_list` holds uint8 RGB clips (T,H,W,3) of any size and length >= 1. `model` must have
    `features(x: (B,3,T,H,W)) -> (B,D)` (e.g. `create_i3d()`); it is put in eval mode. Windows from
    consecutive clips share batches, so short clips do not waste I3D calls, and each clip is
    preprocessed only when the model is ready for it, so memory stays at a few clips. With `sequences`,
    also every clip's (W_i, D) window features (`clip_features`).
    """
    return clip_features(model, (preprocess_frames(f, cfg) for f in frames_list), cfg, device, sequences=sequences)
