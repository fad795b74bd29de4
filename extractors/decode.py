"""Decode one clip's window into mono audio and frames at a fixed rate, never raising for bad media.

Real datasets hold empty downloads, interrupted downloads, HTML error pages saved as
.mp4, silent videos, audio-only files and broken streams. `decode_clip` turns each
such case into a per-modality `skipped` status with a human-readable reason, so an
extraction job can record the gap instead of dying on clip 40,000 of 90,000.

Decoding uses decord. Before decord sees a file, PyAV (a separate ffmpeg build)
probes it (extractors/probe.py), which catches what decord handles badly and yields
the stream sizes and channel layout needed here. A decoder failure becomes a
sentence naming the file, with the decoder's own line after it.

Window: `[start, end)` in seconds within the file, at most `max_seconds` long; a
window that runs past the end of the media is clipped to what exists, so short clips
are kept. Frames are sampled at `cfg.fps` from the frame timestamps (so variable
frame rate files give frames at the right times); audio is resampled and downmixed
to mono by decord (decord's per-channel output is not used because it returns garbage
for more than two channels).

Channel layout. decord downmixes with ffmpeg's standard matrix, which ffmpeg leaves
unnormalised for float output: a sound present in every channel comes out at 1.41x
its level from stereo and 3.41x from 5.1 (centre 1, fronts and backs 0.71 and 0.5
each, LFE 0). AudioSet mixes mono and stereo uploads, so the level — and the
log-mel, by log(1.41) = +0.35 — would depend on the upload. We divide by the
matrix's row sum, measured from ffmpeg itself (PyAV's resampler, same default
matrix) for the stream's layout: the standard downmix, scaled so that a sound in
every channel keeps its level. This is the normalisation ffmpeg applies itself when
the output is integer (`rematrix_maxval`). A sound in only some channels comes out
quieter, as in any mono downmix.

Rotation. Phone videos store landscape frames with a display matrix saying how to
turn them. decord 0.6 applies it wrongly (a squashed frame at a requested size,
scrambled bytes at native size), so a clip with a rotation is decoded with PyAV and
turned with numpy; clips without one keep the decord path.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import av
import decord
import numpy as np
from avgzsl_extractors.probe import Probe, clean_message, probe_media, slack

# decord otherwise prints an ffmpeg line per damaged packet; the reason is recorded instead
decord.logging.set_level(decord.logging.QUIET)

OK = "ok"
SKIPPED = "skipped"

# float32 timestamps are off by ~1e-6 s at 10 s and ~2e-4 s after an hour
_STAMP_TOLERANCE_S = 1e-3


@dataclass
class DecodeConfig:
    sample_rate: int = 16000  # audio out: mono float32 at this rate
    fps: float = 25.0  # frames out: sampled at this rate from frame timestamps
    max_seconds: float = 10.0  # the longest window decoded
    # Downscale while decoding so the shorter side is at most this (None: native size).
    # A 1080p 10 s window is 1.5 GB of RGB at native size; I3D wants 224 px anyway.
    short_side: int | None = 256
    decoder_threads: int = 1  # per clip; jobs parallelise over clips instead
    # a track whose peak stays below this is recorded as silent (kept, but flagged): at -80 dBFS the
    # STFT magnitudes of the default log-mel are ~0.01, the log offset, so the log-mel is its floor
    silence_dbfs: float = -80.0


@dataclass
class DecodedClip:
    audio: np.ndarray | None  # (S,) float32 mono at cfg.sample_rate
    frames: np.ndarray | None  # (T, H, W, 3) uint8, one per 1/cfg.fps within the window
    audio_status: str
    video_status: str
    audio_reason: str
    video_reason: str
    start: float = 0.0  # window actually requested after the max_seconds cap
    end: float = 0.0
    audio_silent: bool = False  # decoded fine but peak below cfg.silence_dbfs; usable, flagged
    audio_peak_dbfs: float | None = None  # peak level of the decoded window (None: no audio)
    rotation: int = 0  # display rotation applied to the frames (degrees counter-clockwise)

    @property
    def audio_ok(self) -> bool:
        return self.audio_status == OK

    @property
    def video_ok(self) -> bool:
        return self.video_status == OK


class _Skip(Exception):
    """A modality of one clip cannot be used; the message is the recorded reason."""


def decode_clip(
    path: str | os.PathLike,
    start: float | None = None,
    end: float | None = None,
    cfg: DecodeConfig | None = None,
    *,
    audio: bool = True,
    video: bool = True,
) -> DecodedClip:
    """Decode the window `[start, end)` of one file; bad media becomes a skip with its reason.

    `audio=False` / `video=False` leave that modality undecoded (status `skipped`,
    reason "not requested"), which halves the work of a single-modality job.
    """
    cfg = cfg or DecodeConfig()
    path = str(path)
    t0 = 0.0 if start is None or not np.isfinite(start) else max(0.0, float(start))
    t1 = t0 + cfg.max_seconds if end is None or not np.isfinite(end) else float(end)
    t1 = min(t1, t0 + cfg.max_seconds)
    clip = DecodedClip(None, None, SKIPPED, SKIPPED, "not requested", "not requested", t0, t1)

    def skip_requested(reason: str) -> DecodedClip:
        clip.audio_reason = reason if audio else clip.audio_reason
        clip.video_reason = reason if video else clip.video_reason
        return clip

    if t1 <= t0:
        return skip_requested(f"empty window: end {t1:.3f} s is not after start {t0:.3f} s")
    probe = probe_media(path)
    if probe.reason:
        return skip_requested(probe.reason)
    if audio:
        try:
            clip.audio = _decode_audio(path, t0, t1, cfg, probe)
            clip.audio_status, clip.audio_reason = OK, ""
            peak = float(np.abs(clip.audio).max())
            clip.audio_peak_dbfs = float(20 * np.log10(peak)) if peak > 0 else float("-inf")
            clip.audio_silent = bool(clip.audio_peak_dbfs < cfg.silence_dbfs)
        except _Skip as skip:
            clip.audio_reason = str(skip)
    if video:
        try:
            clip.frames, clip.rotation = _decode_video(path, t0, t1, cfg, probe)
            clip.video_status, clip.video_reason = OK, ""
        except _Skip as skip:
            clip.video_reason = str(skip)
    return clip


def _decode_audio(path: str, t0: float, t1: float, cfg: DecodeConfig, probe: Probe) -> np.ndarray:
    if probe.audio_reason:
        raise _Skip(probe.audio_reason)
    try:
        reader = decord.AudioReader(path, sample_rate=cfg.sample_rate, mono=True)
        # the reader already holds the whole decoded track; indexing it publicly copies it three
        # times through decord's NDArray (decord is pinned at 0.6.0, where this attribute exists)
        samples = np.asarray(reader._array, dtype=np.float32)  # (1, S) at cfg.sample_rate
    except MemoryError:
        raise
    except Exception as err:  # decord reports every decoder failure as DECORDError or RuntimeError
        raise _Skip(_decoder_failure("audio", path, err)) from err
    if samples.ndim != 2 or samples.shape[1] == 0:
        raise _Skip("audio stream decoded to no samples")
    decoded_end = samples.shape[1] / cfg.sample_rate
    # decord stops at the first undecodable packet without raising; the probe saw the packets
    needed = min(t1, probe.audio_end)
    if decoded_end < needed - slack(needed):
        raise _Skip(
            f"corrupt audio: the audio of {os.path.basename(path)} is damaged, decoding stopped at "
            f"{decoded_end:.2f} s but its packets run to {probe.audio_end:.2f} s"
        )
    # AAC decodes to whole 1024-sample frames; the declared duration marks where real audio stops
    available = decoded_end if probe.audio_declared is None else min(decoded_end, probe.audio_declared)
    if t0 >= available:
        raise _Skip(f"window starts at {t0:.2f} s, after the audio ends ({available:.2f} s)")
    first, last = int(round(t0 * cfg.sample_rate)), int(round(min(t1, available) * cfg.sample_rate))
    if last <= first:
        raise _Skip(f"window [{t0:.3f}, {t1:.3f}) s holds no audio sample")
    # (1, S) -> (S,), at the level the sound has in each channel whatever the layout (module docstring)
    mono = samples[0, first:last] / _downmix_gain(probe.audio_layout, probe.audio_channels)
    if not np.isfinite(mono).all():
        raise _Skip("audio has NaN or inf samples after decoding")
    return np.ascontiguousarray(mono, dtype=np.float32)


@lru_cache(maxsize=32)
def _downmix_gain(layout: str, channels: int) -> float:
    """Level of ffmpeg's default mono downmix for a sound present at level 1 in every channel.

    Measured by running ffmpeg's resampler (through PyAV) on a frame of ones in that layout:
    1 for mono, sqrt(2) for stereo, 2 + sqrt(2) for 5.1 (whose LFE weighs 0).
    """
    if channels <= 1:
        return 1.0
    try:
        frame_layout = av.AudioLayout(layout)
    except (ValueError, av.error.FFmpegError):
        frame_layout = None
    if frame_layout is None or not frame_layout.channels or frame_layout.channels[0].name == "NONE":
        # an unnamed channel order: ffmpeg's resampler assumes the default layout for the count ("6c": 5.1)
        frame_layout = av.AudioLayout(f"{channels}c")
    ones = av.AudioFrame.from_ndarray(
        np.ones((len(frame_layout.channels), 1024), np.float32), format="fltp", layout=frame_layout
    )
    ones.sample_rate = 16000
    resampler = av.AudioResampler(format="flt", layout="mono", rate=16000)
    out = [f.to_ndarray() for f in resampler.resample(ones) + resampler.resample(None)]
    gain = float(np.median(np.concatenate(out, axis=1))) if out else 0.0
    # a layout whose channels all vanish from the downmix (e.g. LFE only) has nothing to normalise
    return gain if gain > 1e-6 else 1.0


def _decode_video(path: str, t0: float, t1: float, cfg: DecodeConfig, probe: Probe) -> tuple[np.ndarray, int]:
    """(frames (T, H, W, 3) uint8 shown upright, display rotation applied in degrees)."""
    if probe.video_reason:
        raise _Skip(probe.video_reason)
    rotation = _display_rotation(path, probe.video_index)
    if rotation:
        return _decode_video_rotated(path, t0, t1, cfg, probe, rotation), rotation
    width, height = _target_size(probe.size, cfg.short_side)
    try:
        reader = decord.VideoReader(path, num_threads=cfg.decoder_threads, width=width, height=height)
        n = len(reader)
        stamps = np.asarray(reader.get_frame_timestamp(np.arange(n)), dtype=np.float64)  # (n, 2) start, end
        index = _frame_indices(stamps, t0, t1, cfg.fps)
        if index is None:
            raise _Skip(f"window starts at {t0:.2f} s, after the video ends ({_video_end(stamps):.2f} s)")
        # decord decodes each distinct index once, in order, and copies repeats
        frames = reader.get_batch(index.tolist()).asnumpy()  # (T, H, W, 3) uint8
    except (_Skip, MemoryError):
        raise
    except Exception as err:  # decord reports every decoder failure as DECORDError or RuntimeError
        raise _Skip(_decoder_failure("video", path, err)) from err
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] != len(index):
        raise _Skip(f"video decoded to an unexpected array of shape {frames.shape}")
    return np.ascontiguousarray(frames, dtype=np.uint8), 0


def _display_rotation(path: str, index: int) -> int:
    """Counter-clockwise degrees (0, 90, 180, 270) the first frame must be turned to be shown upright.

    The display matrix reaches the decoded frame as side data; PyAV reads it as `frame.rotation`.
    """
    try:
        with av.open(path, metadata_errors="ignore") as container:
            for frame in container.decode(container.streams[index]):
                return int(round(frame.rotation / 90.0)) % 4 * 90
    except av.error.FFmpegError:
        return 0  # a first frame that cannot be decoded: the decode proper records the failure in full
    return 0


def _decode_video_rotated(
    path: str, t0: float, t1: float, cfg: DecodeConfig, probe: Probe, rotation: int
) -> np.ndarray:
    """Frames of a clip with a display rotation, decoded with PyAV and turned upright."""
    width, height = _target_size(probe.size, cfg.short_side)
    size = {} if width < 0 else {"width": width, "height": height}
    starts: list[float] = []
    images: list[np.ndarray] = []
    try:
        with av.open(path, metadata_errors="ignore") as container:
            stream = container.streams[probe.video_index]
            stream.codec_context.thread_count = cfg.decoder_threads
            if t0 > 0 and stream.time_base:
                # lands on the keyframe at or before t0; frames before t0 are dropped below
                container.seek(int(t0 / stream.time_base), stream=stream, backward=True)
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                if starts and starts[-1] <= t0 + _STAMP_TOLERANCE_S and frame.time <= t0 + _STAMP_TOLERANCE_S:
                    # only the last frame at or before t0 is ever shown
                    starts.pop()
                    images.pop()
                starts.append(float(frame.time))
                image = frame.to_ndarray(format="rgb24", **size)  # (H, W, 3) as stored
                images.append(np.rot90(image, k=rotation // 90))  # counter-clockwise, as the matrix says
                if frame.time >= t1:
                    break  # one frame past the window marks where the last one stops being shown
    except MemoryError:
        raise
    except Exception as err:  # PyAV raises FFmpegError subclasses for damaged streams
        raise _Skip(_decoder_failure("video", path, err)) from err
    if not starts:
        raise _Skip(f"the video of {os.path.basename(path)} decoded to no frames")
    stamps = np.stack([starts, starts], axis=1)  # (n, 2) as decord's (start, end); only starts are used
    index = _frame_indices(stamps, t0, t1, cfg.fps)
    if index is None:
        raise _Skip(f"window starts at {t0:.2f} s, after the video ends ({_video_end(stamps):.2f} s)")
    return np.ascontiguousarray(np.stack([images[i] for i in index]), dtype=np.uint8)


# decord's C++ check failures, and what they mean for the file
_DECODER_FAILURES = (
    (r"avcodec_send_packet|Fail to send packet|Error sending packet",
     "the decoder rejected a packet, so the file is damaged after its start"),
    (r"avcodec_receive_frame|Fail to receive frame", "the decoder could not produce a frame from the data"),
    (r"Invalid data found|INVALIDDATA|-1094995529", "the stream holds invalid data"),
    (r"Error reading|ERROR opening|could not open", "the stream could not be opened"),
    (r"Cannot allocate|out of memory", "the decoder ran out of memory"),
)


def _decoder_failure(kind: str, path: str, err: BaseException) -> str:
    """A sentence naming the file and what the failure means, with the decoder's own line after it."""
    raw = clean_message(err)
    meaning = next((m for pattern, m in _DECODER_FAILURES if re.search(pattern, raw, re.IGNORECASE)),
                   "the decoder failed")
    return f"the {kind} of {os.path.basename(path)} could not be decoded: {meaning} (decoder message: {raw})"


def _frame_indices(stamps: np.ndarray, t0: float, t1: float, fps: float) -> np.ndarray | None:
    """Source frame shown at each output time t0, t0 + 1/fps, ... below min(t1, video end)."""
    starts = stamps[:, 0]
    stop = min(t1, _video_end(stamps))
    if stop <= t0:
        return None
    # a tiny epsilon keeps a 2.0 s window at 25 fps at 50 samples despite float steps
    times = t0 + np.arange(int(np.ceil((stop - t0) * fps - 1e-6))) / fps
    # decord returns frames in decode order; timestamps need not be sorted for B-frames
    order = np.argsort(starts, kind="stable")
    # decord's timestamps are float32: a frame stamped 3.1200001 must still count as shown at 3.12
    pos = np.searchsorted(starts[order], times + _STAMP_TOLERANCE_S, side="right") - 1
    return order[np.clip(pos, 0, len(order) - 1)]


def _video_end(stamps: np.ndarray) -> float:
    starts = np.sort(stamps[:, 0])
    if len(starts) > 1:
        # decord's per-frame end times are unreliable for variable frame rate; the spacing is not
        return float(starts[-1] + np.median(np.diff(starts)))
    return float(max(stamps[0, 1], stamps[0, 0]))


def _target_size(size: tuple[int, int] | None, short_side: int | None) -> tuple[int, int]:
    """decord's (width, height); -1 keeps the native size. Never upscales."""
    if size is None or short_side is None or min(size) <= short_side:
        return -1, -1
    width, height = size
    scale = short_side / min(width, height)
    return max(1, int(round(width * scale))), max(1, int(round(height * scale)))


def media_path(path: str | os.PathLike, root: str | os.PathLike | None = None) -> Path:
    """A manifest path, relative ones resolved against `root` when given."""
    path = Path(path)
    return path if root is None or path.is_absolute() else Path(root) / path
