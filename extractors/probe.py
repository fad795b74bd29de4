"""Check a media file with PyAV before decord touches it: what is unusable, and the stream facts decoding needs.

Probing is cheap (header plus packet demux, no decoding) and catches what decord
handles badly: decord reads partial files without complaint (audio comes back
silently shortened) and its error messages are C++ log lines. Every problem becomes
a reason for the clip's status table, never an exception.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass

import av

# a stream whose data ends this much short of its declared duration was cut off
_TRUNCATION_SLACK_S = 0.25
_TRUNCATION_SLACK_FRACTION = 0.02


@dataclass
class Probe:
    reason: str = ""  # non-empty: the file as a whole is unusable
    video_reason: str = ""
    audio_reason: str = ""
    size: tuple[int, int] | None = None  # (width, height) of the video stream as stored (before rotation)
    video_index: int = -1  # the stream decoded
    audio_layout: str = ""  # ffmpeg's channel layout name, e.g. "stereo", "5.1"
    audio_channels: int = 0
    audio_end: float = 0.0  # seconds covered by audio packets
    audio_declared: float | None = None  # the container's audio duration; excludes codec padding


def slack(seconds: float) -> float:
    return _TRUNCATION_SLACK_S + _TRUNCATION_SLACK_FRACTION * seconds


def clean_message(err: BaseException) -> str:
    """decord messages carry a time stamp, a source path and sometimes a stack trace."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    text = re.sub(r"(\[\d\d:\d\d:\d\d\]\s*\S+?:\d+:\s*)+", "", text).strip()
    # decord's Python wrapper names only the file, which the status row already identifies
    if re.fullmatch(r"Error reading .*\.\.\.", text):
        text = "decord could not open the stream"
    return text[:300]


def probe_media(path: str) -> Probe:
    """Check the file with PyAV before decord touches it."""
    if not os.path.exists(path):
        return Probe(reason=f"file not found: {path}")
    if os.path.isdir(path):
        return Probe(reason=f"not a file: {path} is a directory")
    size = os.path.getsize(path)
    if size == 0:
        return Probe(reason="file is empty (0 bytes)")
    try:
        container = av.open(path, metadata_errors="ignore")
    except av.error.FFmpegError as err:
        return Probe(reason=_unopenable(path, size, err))
    except OSError as err:
        return Probe(reason=f"unreadable file: {err.strerror or err}")
    try:
        with container:
            return _probe_streams(container)
    except MemoryError:
        raise
    except Exception as err:  # any failure reading this file is about this clip only
        return Probe(reason=f"corrupt media: {type(err).__name__}: {clean_message(err)}")


def _probe_streams(container) -> Probe:
    probe = Probe()
    videos = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    audios = list(container.streams.audio)
    if not videos:
        probe.video_reason = "no video stream (only cover art)" if container.streams.video else "no video stream"
    if not audios:
        probe.audio_reason = "no audio stream"
    vstream = videos[0] if videos else None
    astream = audios[0] if audios else None
    if vstream is not None:
        probe.size = (vstream.codec_context.width, vstream.codec_context.height)
        probe.video_index = vstream.index
        if not probe.size[0] or not probe.size[1]:
            probe.video_reason = "video stream has no frame size"
    wanted = [s for s in (vstream, astream) if s is not None]
    ends = {s.index: 0.0 for s in wanted}
    packets = {s.index: 0 for s in wanted}
    for packet in container.demux(wanted):
        if packet.pts is None or packet.size == 0:
            continue  # demux's end-of-stream flush packets
        stream = packet.stream.index
        packets[stream] += 1
        ends[stream] = max(ends[stream], float((packet.pts + (packet.duration or 0)) * packet.time_base))
    for stream, key in ((vstream, "video_reason"), (astream, "audio_reason")):
        if stream is None or getattr(probe, key):
            continue
        if packets[stream.index] == 0:
            setattr(probe, key, f"{stream.type} stream has no data")
            continue
        declared = _declared_duration(stream, container)
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        if declared is not None and ends[stream.index] - start < declared - slack(declared):
            setattr(
                probe,
                key,
                f"truncated: {stream.type} data ends at {ends[stream.index] - start:.2f} s "
                f"but the file declares {declared:.2f} s",
            )
    if astream is not None:
        probe.audio_end = ends[astream.index]
        layout = astream.codec_context.layout
        probe.audio_layout = layout.name if layout is not None else ""
        probe.audio_channels = len(layout.channels) if layout is not None else 0
        probe.audio_declared = _declared_duration(astream, container)
    return probe


def _declared_duration(stream, container) -> float | None:
    if stream.duration is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        # container-level duration covers the longest stream; only a lower bound matters here
        return None if len(container.streams) > 1 else container.duration / av.time_base
    return None


# leading bytes of containers that a decoder failing on them suggests damage, not a non-media file
_SIGNATURES = {
    b"RIFF": "WAV/AVI",
    b"\x1aE\xdf\xa3": "Matroska/WebM",
    b"OggS": "Ogg",
    b"fLaC": "FLAC",
    b"ID3": "MP3",
    b"FLV": "FLV",
}


def _unopenable(path: str, size: int, err: BaseException) -> str:
    message = getattr(err, "strerror", None) or clean_message(err)
    with open(path, "rb") as f:
        head = f.read(16)
    if head[4:8] == b"ftyp":
        return _mp4_damage(path, size) or f"corrupt MP4: {message}"
    for magic, kind in _SIGNATURES.items():
        if head.startswith(magic):
            return f"corrupt {kind} file: {message}"
    return f"not a media file: {message}"


def _mp4_damage(path: str, size: int) -> str:
    """Walk MP4 top-level boxes: a box running past the end of the file means a cut-off download."""
    boxes = []
    with open(path, "rb") as f:
        offset = 0
        while offset + 8 <= size:
            f.seek(offset)
            length, kind = struct.unpack(">I4s", f.read(8))
            name = kind.decode("latin-1")
            if not name.isascii() or not name.isprintable():
                return f"corrupt MP4: unreadable box header at byte {offset}"
            if length == 1:
                if offset + 16 > size:
                    break
                (length,) = struct.unpack(">Q", f.read(8))
            elif length == 0:
                length = size - offset  # box runs to end of file by definition
            if length < 8:
                return f"corrupt MP4: box {name!r} at byte {offset} has invalid size {length}"
            if offset + length > size:
                return (
                    f"truncated: MP4 box {name!r} needs {offset + length} bytes, file has {size}"
                    + ("" if "moov" in boxes else " (no 'moov' index before the cut)")
                )
            boxes.append(name)
            offset += length
    if "moov" not in boxes:
        return f"corrupt MP4: no 'moov' index among boxes {boxes}"
    return ""
