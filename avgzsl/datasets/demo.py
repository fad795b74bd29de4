"""The embedded demo dataset: rendered AudioSetZSL-like clips on which zero-shot transfer works.

Each of the 33 AudioSetZSL classes gets a picture and a sound that are smooth functions
of the class's word vector (GloVe 6B 50-d, the vectors `avgzsl_extractors.text` reads by
default). The 33 unit class vectors are reduced by PCA to `code_dims` standardised
coordinates; each coordinate drives rendering properties:

    dim  video (112x112, 25 fps)            audio (16 kHz mono)
    0    background hue                     tone pitch
    1    blob hue                           noise-band centre
    2    blob orbit speed                   -
    3    -                                  amplitude-modulation rate
    4    blob size                          -
    5    -                                  vibrato (FM) depth
    6    stripe spatial frequency           -
    7    -                                  click rate

Dims 0-1 are shared; the rest reach one modality only, so each modality alone sees
part of the class code and fusing both sees all of it. Classes close in text space
therefore look and sound alike, which is what lets a text-anchored model place an
unseen class. Every clip jitters each property and adds its own phases, stripe tilt
and pixel/audio noise, all seeded by the clip id, so rendering is deterministic.

Clips are real mp4 files (H.264 + AAC written with PyAV) so the same extractors that
read downloaded AudioSetZSL clips read these.
"""

from __future__ import annotations

import colorsys
import functools
import hashlib
import logging
import math
import os
import time
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd

from avgzsl.datasets.kind import DatasetKind
from avgzsl.formats.atomic import atomic_output
from avgzsl.formats.manifest import SPLITS, ClassTable

log = logging.getLogger(__name__)

# AudioSetZSL's class list (class-split/all_class.txt) and its unseen classes, in their order
DEMO_CLASSES = (
    "dog", "cat", "horse", "cattle", "pig", "goat", "panther", "bird", "thunderstorm", "rain", "stream",
    "ocean", "car", "truck", "bus", "ambulance", "motorcycle", "train", "aircraft", "bicycle", "skateboard",
    "clock", "sewing", "fan", "cashbox", "printer", "camera", "church-bell", "hammer", "sawing", "gunshot",
    "fireworks", "boom",
)  # fmt: skip
DEMO_UNSEEN = ("pig", "panther", "stream", "bus", "aircraft", "clock", "fan", "printer", "church-bell", "gunshot")

VIDEO_DIMS = {"bg_hue": 0, "blob_hue": 1, "blob_speed": 2, "blob_size": 4, "stripe_freq": 6}
AUDIO_DIMS = {"pitch": 0, "noise_centre": 1, "am_rate": 3, "fm_depth": 5, "click_rate": 7}
MANIFEST_COLUMNS = ("clip_id", "class", "split", "path", "start", "end")


@dataclass
class DemoConfig:
    trn_per_class: int = 8  # unseen classes get trn clips too, as in AudioSetZSL; training must skip them
    val_per_class: int = 3
    tst_per_class: int = 4
    seconds: float = 4.0
    fps: int = 25
    size: int = 112  # square frames; I3D runs 4x cheaper at 112^2 than at 224^2
    sample_rate: int = 16000
    code_dims: int = 8  # PCA dims of the class word vectors that drive rendering
    jitter: float = 0.05  # per-clip spread of each property, on its 0..1 scale
    pixel_noise: float = 5.0  # std of per-pixel noise in grey levels
    audio_noise: float = 0.02  # std of white noise added to the waveform
    crf: int = 23  # H.264 quality
    preset: str = "veryfast"  # x264 speed/size trade-off
    audio_bitrate: int = 48000
    text_source: str = "glove-6b-50d"  # word vectors defining the class codes
    seed: int = 0

    def __post_init__(self) -> None:
        if self.size < 16 or self.size % 2:
            raise ValueError(f"size must be even and >= 16 (H.264 4:2:0), got {self.size}")
        if min(self.trn_per_class, self.val_per_class, self.tst_per_class) < 0:
            raise ValueError("clips per class cannot be negative")
        if self.seconds <= 0 or self.fps <= 0 or self.sample_rate <= 0:
            raise ValueError("seconds, fps and sample_rate must be positive")

    def to_dict(self) -> dict:
        return asdict(self)


def demo_classes() -> ClassTable:
    return ClassTable.from_lists(list(DEMO_CLASSES), DEMO_UNSEEN)


def clip_path(clip_id: str, split: str) -> str:
    """Where a clip lives, relative to the dataset folder."""
    return f"clips/{split}/{clip_id}.mp4"


def demo_manifest(cfg: DemoConfig | None = None, *, shard_size: int | None = None) -> pd.DataFrame:
    """All clips of the demo (no rendering); with shard_size, a `shard` column numbers fan-out jobs."""
    cfg = cfg or DemoConfig()
    counts = {"trn": cfg.trn_per_class, "val": cfg.val_per_class, "tst": cfg.tst_per_class}
    rows = []
    for split in SPLITS:
        for name in DEMO_CLASSES:
            for k in range(counts[split]):
                clip_id = f"{name}_{split}_{k:02d}"
                rows.append((clip_id, name, split, clip_path(clip_id, split), 0.0, float(cfg.seconds)))
    manifest = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    if shard_size is not None:
        if shard_size < 1:
            raise ValueError(f"shard_size must be >= 1, got {shard_size}")
        manifest["shard"] = np.arange(len(manifest)) // shard_size
    return manifest


@functools.lru_cache(maxsize=4)
def _class_codes(text_source: str, dims: int) -> np.ndarray:
    # imported here so that reading a demo manifest does not pull in gensim
    from avgzsl_extractors.text import TextConfig, class_vectors, load_word_vectors

    kv = load_word_vectors(TextConfig(source=text_source))
    vectors = class_vectors(kv, list(DEMO_CLASSES), normalize=True).astype(np.float64)
    centred = vectors - vectors.mean(axis=0)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    if dims > len(s):
        raise ValueError(f"code_dims={dims} exceeds the {len(s)} available PCA dims")
    # SVD signs are arbitrary: pin each axis so its largest loading is positive
    signs = np.sign(vt[np.arange(dims), np.abs(vt[:dims]).argmax(axis=1)])
    codes = u[:, :dims] * s[:dims] * signs
    return codes / codes.std(axis=0)


def class_codes(cfg: DemoConfig | None = None) -> pd.DataFrame:
    """The standardised PCA code of every demo class (rows in DEMO_CLASSES order)."""
    cfg = cfg or DemoConfig()
    codes = _class_codes(cfg.text_source, cfg.code_dims)
    return pd.DataFrame(codes, index=list(DEMO_CLASSES), columns=[f"z{i}" for i in range(cfg.code_dims)])


def class_properties(cfg: DemoConfig | None = None) -> pd.DataFrame:
    """Each class's rendering properties on a 0..1 scale before per-clip jitter."""
    cfg = cfg or DemoConfig()
    codes = class_codes(cfg).to_numpy()
    # tanh keeps a smooth, monotone map from code to property while bounding outliers
    unit = 0.5 + 0.5 * np.tanh(0.8 * codes)
    dims = {**VIDEO_DIMS, **AUDIO_DIMS}
    for prop, d in dims.items():
        if d >= cfg.code_dims:
            raise ValueError(f"property {prop} needs code dim {d}, but code_dims={cfg.code_dims}")
    return pd.DataFrame({p: unit[:, d] for p, d in dims.items()}, index=list(DEMO_CLASSES))


def _clip_rng(cfg: DemoConfig, clip_id: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{cfg.seed}/{clip_id}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h, s, v), dtype=np.float32)


def render_frames(props: dict[str, float], cfg: DemoConfig, rng: np.random.Generator) -> np.ndarray:
    """(T, H, W, 3) uint8 frames for one clip with the given (already jittered) properties."""
    n, size = int(round(cfg.seconds * cfg.fps)), cfg.size
    t = (np.arange(n, dtype=np.float32) / cfg.fps)[:, None, None]
    axis = (np.arange(size, dtype=np.float32) + 0.5) / size
    y, x = axis[None, :, None], axis[None, None, :]

    # hues stop short of 1.0 so that the two ends of a property never wrap onto one colour
    background = _hsv(0.8 * props["bg_hue"], 0.65, 0.55)
    blob_colour = _hsv(0.8 * props["blob_hue"], 0.9, 0.95)

    # float32 throughout (math.* keeps scalars Python floats, which do not upcast arrays);
    # sin(a - b) = sin a cos b - cos a sin b: two still maps mixed per frame, no per-pixel sin
    tilt = rng.uniform(-0.35, 0.35)
    cycles = 1.5 + 8.0 * props["stripe_freq"]
    still = 2 * math.pi * cycles * (x * math.cos(tilt) + y * math.sin(tilt)) + rng.uniform(0, 2 * math.pi)
    drift = 2 * math.pi * rng.uniform(0.3, 0.6) * t  # stripes move 0.3-0.6 cycles per second
    shade = 1.0 + 0.25 * (np.sin(still) * np.cos(drift) - np.cos(still) * np.sin(drift))  # (T, H, W)

    orbit_hz = 0.1 + 0.9 * props["blob_speed"]
    angle = rng.uniform(0, 2 * math.pi) + 2 * math.pi * orbit_hz * t[:, 0, 0]
    cx = (0.5 + rng.uniform(0.22, 0.32) * np.cos(angle)) * size  # blob centre per frame, pixels
    cy = (0.5 + rng.uniform(0.15, 0.28) * np.sin(angle)) * size
    blob_r = (0.06 + 0.18 * props["blob_size"]) * size

    image = shade[..., None] * (background * 255.0)  # (T, H, W, 3)
    blob = blob_colour * 255.0
    reach = int(math.ceil(blob_r)) + 1
    pixel = np.arange(size, dtype=np.float32) + 0.5
    # the blob covers a few percent of a frame: composite it inside its bounding box only
    for i in range(n):
        x0, x1 = max(int(cx[i]) - reach, 0), min(int(cx[i]) + reach + 1, size)
        y0, y1 = max(int(cy[i]) - reach, 0), min(int(cy[i]) + reach + 1, size)
        dist = np.sqrt((pixel[y0:y1, None] - cy[i]) ** 2 + (pixel[None, x0:x1] - cx[i]) ** 2)
        mask = np.clip(blob_r - dist + 0.5, 0.0, 1.0)[..., None]  # anti-aliased edge
        region = image[i, y0:y1, x0:x1]
        region += mask * (blob - region)
    image += cfg.pixel_noise * rng.standard_normal(size=(n, size, size, 1), dtype=np.float32)
    np.clip(image, 0, 255, out=image)
    return image.astype(np.uint8)


def render_audio(props: dict[str, float], cfg: DemoConfig, rng: np.random.Generator) -> np.ndarray:
    """(samples,) float32 waveform in [-1, 1] for one clip."""
    sr = cfg.sample_rate
    n = int(round(cfg.seconds * sr))
    t = np.arange(n) / sr

    pitch = 150.0 * 2 ** (3.5 * props["pitch"])  # 150 Hz .. 1.7 kHz
    vibrato = props["fm_depth"] * 2.0 / 12.0  # up to two semitones, in octaves
    freq = pitch * 2 ** (vibrato * np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 2 * np.pi)))
    phase = 2 * np.pi * np.cumsum(freq) / sr
    am_rate = 0.8 + 9.0 * props["am_rate"]
    envelope = 0.55 + 0.45 * np.sin(2 * np.pi * am_rate * t + rng.uniform(0, 2 * np.pi))
    tone = envelope * (np.sin(phase) + 0.4 * np.sin(2 * phase))

    centre = 300.0 * 2 ** (4.0 * props["noise_centre"])  # 300 Hz .. 4.8 kHz
    spectrum = np.fft.rfft(rng.normal(size=n))
    freqs = np.fft.rfftfreq(n, 1 / sr)
    octaves = np.log2(np.maximum(freqs, 1.0) / centre)
    band = np.fft.irfft(spectrum * np.exp(-0.5 * (octaves / 0.25) ** 2), n)
    band /= np.abs(band).max() + 1e-9

    click_rate = 0.75 + 7.0 * props["click_rate"]
    clicks = np.zeros(n)
    length = int(0.012 * sr)
    burst = rng.normal(size=length) * np.exp(-np.arange(length) / (0.002 * sr))
    onset = rng.uniform(0, 1 / click_rate)
    while onset < cfg.seconds:
        i = int(onset * sr)
        seg = clicks[i : i + length]
        seg += burst[: len(seg)]
        onset += (1 / click_rate) * rng.uniform(0.9, 1.1)
    clicks /= np.abs(clicks).max() + 1e-9

    wave = 0.3 * tone + 0.2 * band + 0.3 * clicks + rng.normal(0.0, cfg.audio_noise, n)
    return np.clip(wave, -1.0, 1.0).astype(np.float32)


def clip_properties(name: str, cfg: DemoConfig, rng: np.random.Generator) -> dict[str, float]:
    """A class's properties with this clip's jitter (drawn first from the clip's generator)."""
    base = class_properties(cfg).loc[name]
    jitter = rng.normal(0.0, cfg.jitter, size=len(base))
    return {p: float(np.clip(v + j, 0.0, 1.0)) for (p, v), j in zip(base.items(), jitter)}


def _encode(path: Path, frames: np.ndarray, wave: np.ndarray, cfg: DemoConfig) -> None:
    import av  # the decoders are the `extract` extra's; reading a demo manifest needs none

    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=cfg.fps)
        video.width = video.height = cfg.size
        video.pix_fmt = "yuv420p"
        # one thread: parallel shard jobs already use the other cores
        video.codec_context.thread_count = 1
        # x264's macroblock-tree rate control gave run-to-run different bitstreams (and decoded
        # frames) for identical input here; without it output is repeatable, files ~2.5x larger
        video.options = {"preset": cfg.preset, "crf": str(cfg.crf), "mbtree": "0"}
        audio = out.add_stream("aac", rate=cfg.sample_rate, layout="mono")
        audio.bit_rate = cfg.audio_bitrate
        # the default two-loop AAC coder takes 2.5x as long; synthetic audio needs no better coding
        audio.options = {"aac_coder": "fast"}
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, cfg.fps)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        chunk = audio.codec_context.frame_size or 1024
        for begin in range(0, len(wave), chunk):
            piece = wave[begin : begin + chunk]
            frame = av.AudioFrame.from_ndarray(piece[None, :], format="fltp", layout="mono")
            frame.sample_rate = cfg.sample_rate
            frame.pts = begin
            frame.time_base = Fraction(1, cfg.sample_rate)
            for packet in audio.encode(frame):
                out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)


def render_clip(name: str, clip_id: str, path: str | os.PathLike, cfg: DemoConfig | None = None) -> Path:
    """Render one clip to `path` atomically (a killed job leaves no finished-looking file)."""
    cfg = cfg or DemoConfig()
    path = Path(path)
    if name not in DEMO_CLASSES:
        raise ValueError(f"{clip_id}: {name!r} is not a demo class")
    rng = _clip_rng(cfg, clip_id)
    props = clip_properties(name, cfg, rng)
    frames = render_frames(props, cfg, rng)
    wave = render_audio(props, cfg, rng)
    with atomic_output(path) as tmp:
        _encode(tmp, frames, wave, cfg)
    return path


def render_clips(
    rows: pd.DataFrame, out_dir: str | os.PathLike, cfg: DemoConfig | None = None, *, overwrite: bool = False
) -> pd.DataFrame:
    """Render manifest rows (any subset, e.g. one shard) under out_dir; returns per-clip timings.

    Existing files are kept unless `overwrite`: rendering is deterministic, so a file that
    is there (written atomically) is the file this config would render.
    """
    cfg = cfg or DemoConfig()
    out_dir = Path(out_dir)
    report = []
    for clip_id, name, rel in rows[["clip_id", "class", "path"]].itertuples(index=False, name=None):
        target = out_dir / rel
        if target.exists() and not overwrite:
            report.append((clip_id, str(target), False, 0.0))
            continue
        began = time.perf_counter()
        render_clip(name, clip_id, target, cfg)
        report.append((clip_id, str(target), True, time.perf_counter() - began))
    table = pd.DataFrame(report, columns=["clip_id", "path", "rendered", "seconds"])
    done = table[table["rendered"]]
    if len(done):
        log.info("rendered %d demo clips, %.3f s per clip", len(done), done["seconds"].mean())
    return table


def render_demo(
    out_dir: str | os.PathLike, cfg: DemoConfig | None = None, *, shard_size: int | None = None
) -> pd.DataFrame:
    """Render the whole demo: clips, `manifest.csv` and `classes.tsv` under out_dir."""
    cfg = cfg or DemoConfig()
    out_dir = Path(out_dir)
    manifest = demo_manifest(cfg, shard_size=shard_size)
    groups = manifest.groupby("shard", sort=True) if "shard" in manifest else [(0, manifest)]
    for _, rows in groups:
        render_clips(rows, out_dir, cfg)
    demo_classes().write(out_dir / "classes.tsv")
    with atomic_output(out_dir / "manifest.csv") as tmp:
        manifest.to_csv(tmp, index=False)
    return manifest


@dataclass(frozen=True)
class DemoKind(DatasetKind):
    """The rendered demo: clips made from each class's word vector, so its media jobs see class and split."""

    def build_manifest(self, settings: dict, *, resources: str) -> tuple[pd.DataFrame, ClassTable]:
        return demo_manifest(DemoConfig(**settings)), demo_classes()


DEMO = DemoKind("demo", media="rendered", media_rows_keep_labels=True)
