"""What the full AudioSetZSL pipeline costs on this machine: per-clip costs measured here, wall time projected.

Measures, on this machine and `--device`:
  * decode per 10 s clip (video at 25 fps, short side 256; audio at 16 kHz mono) and the log-mel,
    on generated clips of `--video-size` (default 640x360, what the downloader asks YouTube for);
  * I3D per clip (Kinetics-400 weights, 64-frame windows of `--crop-size`^2, 4 windows per 10 s clip);
  * the audio CNN per clip (forward) and per training step (batch 32, 496 frames, Adam);
  * one AVGZSLNet epoch (official preset) on synthetic features of AudioSetZSL's size.
CPU costs are measured with one torch thread, as CPU-seconds; a CPU stage's wall time is its CPU-seconds
over the cores (shard jobs run side by side). With GPUs, a model stage runs on them while the cores decode:
its wall time is the larger of the two, and that side is named the stage's bottleneck.

Projection for 156,416 clips (79,795 seen-class train clips for the audio CNN), `--audio-epochs` audio-CNN
epochs, `--runs` deep trainings (14 experiments x 3 seeds) of the preset's epochs. Downloading is left out
(it depends on the network, not on this machine).

`--check N` then runs the real extraction jobs (avgzsl_extractors.extract, `--cores` decode workers and torch
threads) on N generated clips and prints their measured wall time next to the projection for N clips.

Usage: python benchmarks/pipeline_cost.py [--cores 16] [--gpus 1] [--device auto|cpu|cuda] [--crop-size 224]
       [--repeats 3] [--check 4]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(Path(__file__).resolve().parent), str(REPO)]
from _timing import TimingReport, describe_device, device_sync, repeat, resolve_device  # noqa: E402

N_CLIPS, N_AUDIO_TRAIN, N_FEATURE_TRAIN, SECONDS = 156_416, 79_795, 93_865, 10.0
WINDOWS_PER_CLIP = 4  # 250 frames at 25 fps: windows at 0, 64, 128 and the aligned tail at 186


def _media():
    spec = importlib.util.spec_from_file_location("avgzsl_test_media", REPO / "tests" / "media.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:8.1f} h" if seconds >= 3600 else f"{seconds / 60:8.1f} min"


def measure_costs(args, device, report: TimingReport, paths: list[Path]) -> dict:
    """Per-unit costs: CPU-seconds (one thread) for decoding and the log-mel; model seconds on the device
    (one thread on a CPU, so they add up like CPU-seconds too)."""
    from avgzsl_extractors.audio_cnn import create_audio_cnn, make_embed_fn
    from avgzsl_extractors.audio_train import AudioTrainConfig
    from avgzsl_extractors.decode import DecodeConfig, decode_clip
    from avgzsl_extractors.i3d import create_i3d
    from avgzsl_extractors.logmel import LogMelConfig, fixed_length, log_mel, num_frames
    from avgzsl_extractors.video import VideoFeatureConfig, clip_features, preprocess_frames

    sync = device_sync(device)
    vcfg = VideoFeatureConfig(crop_size=args.crop_size, resize_short_side=round(args.crop_size * 256 / 224),
                              batch_windows=args.windows_per_batch, autocast=args.autocast)
    vdecode = DecodeConfig(fps=vcfg.fps, short_side=vcfg.resize_short_side)
    costs = {}
    torch.set_num_threads(1)  # CPU costs as CPU-seconds of one core
    clip = decode_clip(paths[0], None, None, vdecode)
    costs["decode_video"] = report.add(repeat(
        lambda: [decode_clip(p, None, None, vdecode, audio=False) for p in paths], "decode video, s per clip x n",
        repeats=args.repeats)).median / len(paths)
    costs["decode_audio"] = report.add(repeat(
        lambda: [decode_clip(p, None, None, DecodeConfig(), video=False) for p in paths],
        "decode audio, s per clip x n", repeats=args.repeats)).median / len(paths)
    logmel_cfg = LogMelConfig()
    frames = num_frames(SECONDS, logmel_cfg)
    costs["logmel"] = report.add(repeat(lambda: fixed_length(log_mel(clip.audio, logmel_cfg), frames),
                                        "log-mel, s per clip", repeats=args.repeats)).median
    costs["preprocess_video"] = report.add(repeat(lambda: preprocess_frames(clip.frames, vcfg),
                                                  "crop + scale frames, s per clip", repeats=args.repeats)).median
    if device.type == "cuda":
        torch.set_num_threads(args.cores)
    batch = [preprocess_frames(clip.frames, vcfg)] * max(1, args.windows_per_batch // WINDOWS_PER_CLIP)
    model = create_i3d(weights="kinetics400").to(device).eval()
    i3d = report.add(repeat(lambda: clip_features(model, batch, vcfg, device), "I3D, s per batch of clips",
                            repeats=args.repeats, sync=sync))
    costs["i3d"] = i3d.median / len(batch)
    cnn = create_audio_cnn(n_classes=23).to(device)
    specs = np.random.default_rng(0).normal(-40, 12, size=(32, logmel_cfg.n_mels, frames)).astype(np.float32)
    embed = make_embed_fn(cnn, device, batch_size=32, autocast_mode=args.autocast)
    costs["audio_cnn"] = report.add(repeat(lambda: embed(specs), "audio CNN forward, s per 32 clips",
                                           repeats=args.repeats, sync=sync)).median / len(specs)
    tcfg = AudioTrainConfig()
    optimizer = torch.optim.Adam(cnn.train().parameters(), lr=tcfg.lr)
    x = torch.from_numpy(specs[:, :, : tcfg.frames]).to(device)
    y = torch.zeros(len(x), dtype=torch.long, device=device)

    def train_step():
        loss = torch.nn.functional.cross_entropy(cnn(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    costs["audio_train_step"] = report.add(repeat(train_step, "audio CNN training step (batch 32), s",
                                                  repeats=args.repeats, sync=sync)).median
    costs["deep_epoch"] = measure_deep_epoch(args, device, report)
    torch.set_num_threads(args.cores)
    return costs


def measure_deep_epoch(args, device, report: TimingReport) -> float:
    """Seconds of one official-preset AVGZSLNet epoch over AudioSetZSL-sized synthetic features."""
    from avgzsl.formats.feature_split import FeatureSplit
    from avgzsl.formats.manifest import ClassTable
    from avgzsl.runtime.cpu_memory import keep_freed_memory
    from avgzsl.settings.experiment import preset
    from avgzsl.training.train import train_model

    keep_freed_memory()  # as the workflow's training jobs do (avgzsl/runtime/cpu_memory.py)

    if device.type != "cuda":
        torch.set_num_threads(args.cores)  # one deep training uses every core of its job
    g = torch.Generator().manual_seed(0)
    n, n_seen, n_classes = N_FEATURE_TRAIN, 23, 33
    split = FeatureSplit(
        clip_ids=[f"c{i}" for i in range(n)], audio=torch.randn(n, 1024, generator=g),
        video=torch.randn(n, 1024, generator=g), has_audio=torch.ones(n, dtype=torch.bool),
        has_video=torch.ones(n, dtype=torch.bool), labels=torch.randint(0, n_seen, (n,), generator=g),
        text=torch.randn(n_classes, 300, generator=g),
        classes=ClassTable(names=[f"k{i}" for i in range(n_classes)], seen=np.arange(n_classes) < n_seen))
    cfg = preset("official")
    cfg.train.device, cfg.train.select_epoch = str(device), False
    args.deep_epochs = cfg.train.epochs
    train_model(cfg, split, None, epochs=1, progress=False)  # warm-up
    spread = report.add(repeat(lambda: train_model(cfg, split, None, epochs=1, progress=False),
                               f"AVGZSLNet epoch ({n} clips, official preset, {args.cores} threads), s",
                               repeats=args.repeats, warmup=0))
    torch.set_num_threads(1)
    return spread.median


def stage(name: str, cpu_seconds: float, model_seconds: float, cores: int, gpus: int, on_gpu: bool) -> dict:
    """Wall time of a stage: CPU work over the cores, model work on the GPUs (overlapped) or the cores too."""
    cpu_wall = cpu_seconds / cores
    if on_gpu and gpus:
        model_wall = model_seconds / gpus
        wall = max(cpu_wall, model_wall)
        bottleneck = "GPU (model)" if model_wall >= cpu_wall else "CPU (decoding)"
    else:
        model_wall = model_seconds / cores
        wall = cpu_wall + model_wall
        bottleneck = "CPU (model)" if model_wall >= cpu_wall else "CPU (decoding)"
    return {"stage": name, "cpu_wall": cpu_wall, "model_wall": model_wall, "wall": wall, "bottleneck": bottleneck}


def project(costs: dict, *, clips: int, train_clips: int, cores: int, gpus: int, device, audio_epochs: int,
            runs: int, deep_epochs: int) -> list[dict]:
    on_gpu = device.type == "cuda"
    video_cpu = clips * (costs["decode_video"] + costs["preprocess_video"])
    audio_cpu = clips * (costs["decode_audio"] + costs["logmel"])
    steps = int(np.ceil(train_clips / 32)) * audio_epochs
    # the model stages' CPU costs are one-thread seconds: spread over the cores like decoding
    train_model_seconds = steps * costs["audio_train_step"]
    stages = [
        stage("log-mel cache of seen train clips", train_clips * (costs["decode_audio"] + costs["logmel"]), 0.0,
              cores, gpus, on_gpu),
        stage(f"audio-CNN training ({audio_epochs} epochs)", 0.0, train_model_seconds, cores, gpus, on_gpu),
        stage("audio features", audio_cpu, clips * costs["audio_cnn"], cores, gpus, on_gpu),
        stage("video features (I3D)", video_cpu, clips * costs["i3d"], cores, gpus, on_gpu),
    ]
    deep = runs * deep_epochs * costs["deep_epoch"]  # measured with every core (or the GPU) busy
    stages.append({"stage": f"deep trainings ({runs} x {deep_epochs} epochs)", "cpu_wall": 0.0,
                   "model_wall": deep / (max(gpus, 1) if on_gpu else 1), "wall": deep / (max(gpus, 1) if on_gpu else 1),
                   "bottleneck": "GPU (model)" if on_gpu else "CPU (model)"})
    return stages


def print_projection(stages: list[dict], title: str) -> float:
    print(f"\n{title}")
    print(f"  {'stage':<38}{'CPU side':>12}{'model side':>12}{'wall':>12}  bottleneck")
    for s in stages:
        print(f"  {s['stage']:<38}{_hours(s['cpu_wall']):>12}{_hours(s['model_wall']):>12}{_hours(s['wall']):>12}"
              f"  {s['bottleneck']}")
    total = sum(s["wall"] for s in stages)
    worst = max(stages, key=lambda s: s["wall"])
    print(f"  {'total (stages one after another)':<62}{_hours(total):>12}")
    print(f"  bottleneck: {worst['stage']} ({100 * worst['wall'] / total:.0f} % of the total), "
          f"limited by {worst['bottleneck']}")
    return total


def check(args, device, costs: dict, tmp: Path, media) -> None:
    """Run the real shard jobs on `--check` clips; compare with the projection of the same clips."""
    from avgzsl_extractors.audio_cnn import create_audio_cnn, make_embed_fn
    from avgzsl_extractors.decode import DecodeConfig
    from avgzsl_extractors.extract import ExtractJobConfig, extract_audio_shard, extract_video_shard
    from avgzsl_extractors.i3d import create_i3d
    from avgzsl_extractors.video import VideoFeatureConfig, video_features

    paths = [media.make_clip(tmp / f"check{i}.mp4", seconds=SECONDS, fps=30, size=args.size) for i in range(args.check)]
    rows = pd.DataFrame({"clip_id": [p.stem for p in paths], "path": [str(p) for p in paths]})
    torch.set_num_threads(args.cores)
    job = ExtractJobConfig(workers=args.cores, progress=False, processes=device.type == "cuda")
    vcfg = VideoFeatureConfig(crop_size=args.crop_size, resize_short_side=round(args.crop_size * 256 / 224),
                              batch_windows=args.windows_per_batch, autocast=args.autocast)
    model = create_i3d(weights="kinetics400").to(device).eval()
    cnn = create_audio_cnn(n_classes=23).to(device)
    t0 = time.perf_counter()
    extract_audio_shard(rows, out_features=tmp / "a.h5", out_status=tmp / "a.tsv",
                        embed_fn=make_embed_fn(cnn, device, autocast_mode=args.autocast), job=job)
    audio_wall = time.perf_counter() - t0
    t0 = time.perf_counter()
    extract_video_shard(rows, out_features=tmp / "v.h5", out_status=tmp / "v.tsv",
                        embed_fn=lambda f: video_features(model, f, vcfg, device),
                        decode_cfg=DecodeConfig(fps=vcfg.fps, short_side=vcfg.resize_short_side), job=job)
    video_wall = time.perf_counter() - t0
    stages = project(costs, clips=args.check, train_clips=0, cores=args.cores, gpus=args.gpus, device=device,
                     audio_epochs=0, runs=0, deep_epochs=0)
    projected = {s["stage"]: s["wall"] for s in stages}
    print(f"\ncheck: the real shard jobs on {args.check} generated clips ({args.cores} workers and torch threads)")
    for name, measured in (("audio features", audio_wall), ("video features (I3D)", video_wall)):
        p = projected[name]
        print(f"  {name:<22} projected {p:8.1f} s   measured {measured:8.1f} s   measured / projected "
              f"{measured / p:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cores", type=int, default=2, help="CPU cores of the machine to project for")
    parser.add_argument("--gpus", type=int, default=0, help="GPUs of that machine (used when --device is cuda)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]: where the models are measured")
    parser.add_argument("--crop-size", type=int, default=224)
    parser.add_argument("--video-size", default="640x360", help="WxH of the generated clips decoded")
    parser.add_argument("--windows-per-batch", type=int, default=8)
    parser.add_argument("--autocast", default="none", choices=("none", "bf16", "fp16"))
    parser.add_argument("--audio-epochs", type=int, default=30)
    parser.add_argument("--runs", type=int, default=42, help="deep trainings (experiments x seeds)")
    parser.add_argument("--clips", type=int, default=2, help="generated clips the decode cost is averaged over")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--check", type=int, default=0, help="run the real shard jobs on this many clips")
    args = parser.parse_args()
    args.size = tuple(int(v) for v in args.video_size.split("x"))
    device = resolve_device(args.device)
    if device.type == "cuda" and args.gpus < 1:
        args.gpus = 1
    report = TimingReport()
    print(f"device {describe_device(device)}; projecting for {args.cores} cores, {args.gpus} GPU(s); "
          f"I3D crop {args.crop_size}, autocast {args.autocast}")
    media = _media()
    with tempfile.TemporaryDirectory(prefix="pipeline-cost-") as tmp:
        tmp = Path(tmp)
        paths = [media.make_clip(tmp / f"clip{i}.mp4", seconds=SECONDS, fps=30, size=args.size)
                 for i in range(args.clips)]
        costs = measure_costs(args, device, report, paths)
        print("\nper-unit costs: " + ", ".join(f"{k} {v:.3f} s" for k, v in costs.items()))
        stages = project(costs, clips=N_CLIPS, train_clips=N_AUDIO_TRAIN, cores=args.cores, gpus=args.gpus,
                         device=device, audio_epochs=args.audio_epochs, runs=args.runs, deep_epochs=args.deep_epochs)
        print_projection(stages, f"AudioSetZSL ({N_CLIPS} clips of {SECONDS:.0f} s) on {args.cores} cores"
                                 f"{f' + {args.gpus} GPU(s)' if device.type == 'cuda' else ''}, without downloading:")
        if args.check:
            check(args, device, costs, tmp, media)
    report.finish()


if __name__ == "__main__":
    main()
