"""One stage-1 TCaF epoch at VGGSound-GZSL scale, against the FLOP floor, and the same epoch in TCaF's own code.

Synthetic temporal `main` (SeLaVi) features of the real sizes: 512-d audio and video windows, one window a second
for both (their `selavi: True`, main.py:179-184; SeLaVi embeds each second of a clip), VGGSound clips of at most
10 s, so at most 10 windows a modality (nine clips in ten have all 10, the rest 2-9, drawn independently per
modality); 300-d word vectors; VGGSound-GZSL's stage-1 classes (138 training, 69 val-unseen:
`class-split/main_split/stage_1_*.txt`) and about 9 x 3,102 = 27,918 training clips (the val-seen list holds 3,102
clips; the train list's length is published by neither AVCA-GZSL nor TCaF: its .csv is missing from both
repositories). An epoch is 300 batches of 64 pairs (`n_batches`, `bs` of `config/best/best_main/best_vggsound.yaml`).

* here: `--preset tcaf-vggsound-main`, `model.kind tcaf`, float32, through `avgzsl.training.train_model`; the
  sequences sit in memory and the model cuts and pads each batch itself;
* `--extra-pass` variant: the same with `train.avca_extra_embedding_pass` on: after every step one more embedding
  pass in training mode, which their train_step always runs (their src/train.py:93) and the preset leaves off;
* `--tcaf-repo PATH`: their own epoch (benchmarks/_tcaf_repo.py): the same clips written in their on-disk layout
  (one pickle per class and stage), loaded by their `VGGSoundDataset`, paired by their `ContrastiveDataset`,
  sampled by their `SamplerFactory`, padded by their `DefaultCollator` in their DataLoader's 4 workers, trained by
  their `train_step` on their `Multimodal_Sequence_Transformer` with the best_vggsound `main` config.

The floor is built as in benchmarks/avca_epoch.py: every `mm`, `addmm` and `bmm` of one training step (forward
and backward, and the extra pass where the step has one) is recorded with its shapes and layouts, each is timed
alone, and the sum is scaled to the epoch. It is re-measured after every timed epoch and each epoch is divided
by its own floor; min / median / max over the timed epochs. Their code's floor is that of its own products.

Usage: python benchmarks/tcaf_epoch.py [--epochs 3] [--batches 300] [--threads N] [--device auto] [--clips N]
                                       [--variants preset,extra-pass] [--tcaf-repo PATH [--workdir DIR]]
Their code: `git clone` ExplainableML/TCAF-GZSL, and `pip install einops` (their model imports it).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from avgzsl.formats.feature_split import FeatureSplit
from avgzsl.formats.manifest import ClassTable
from avgzsl.formats.sequences import Sequences
from avgzsl.runtime.cpu_memory import keep_freed_memory
from avgzsl.runtime.device import resolve_device
from avgzsl.settings.experiment import build_experiment

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _matmul_floor import product_flops, time_epochs, training_step  # noqa: E402
from _timing import Spread, TimingReport  # noqa: E402

N_TRAIN, N_SEEN, N_VAL_UNSEEN = 27_918, 138, 69
DIM_AV, DIM_TEXT = 512, 300
MAX_WINDOWS, SHORT_FRACTION = 10, 0.1  # VGGSound clips are at most 10 s; one SeLaVi window a second
PRESET, EPOCH_BATCHES = "tcaf-vggsound-main", 300
VARIANTS = {"preset": False, "extra-pass": True}  # name -> train.avca_extra_embedding_pass


@dataclass
class Clips:
    """The synthetic stage-1 training clips, grouped by class (labels ascending), as numpy arrays."""

    labels: np.ndarray  # (N,) int64 in [0, N_SEEN)
    audio_lengths: np.ndarray  # (N,) windows per clip
    video_lengths: np.ndarray
    audio: np.ndarray  # (sum of audio_lengths, 512) float32, clip after clip
    video: np.ndarray
    text: np.ndarray  # (N_SEEN + N_VAL_UNSEEN, 300) float32, unit rows

    def __post_init__(self) -> None:
        self._starts = {"audio": np.cumsum(self.audio_lengths) - self.audio_lengths,
                        "video": np.cumsum(self.video_lengths) - self.video_lengths}

    def windows(self, modality: str, i: int) -> np.ndarray:
        """Clip i's (T_i, 512) windows of `modality` (a view)."""
        start, values = int(self._starts[modality][i]), getattr(self, modality)
        return values[start:start + int(getattr(self, f"{modality}_lengths")[i])]


def window_counts(n: int, rng: np.random.Generator) -> np.ndarray:
    """Windows per clip: MAX_WINDOWS, or for a SHORT_FRACTION of clips 2 .. MAX_WINDOWS - 1."""
    short = rng.random(n) < SHORT_FRACTION
    return np.where(short, rng.integers(2, MAX_WINDOWS, n), MAX_WINDOWS).astype(np.int64)


def synthetic_clips(n_train: int = N_TRAIN, seed: int = 0, dim_av: int = DIM_AV, dim_text: int = DIM_TEXT) -> Clips:
    rng = np.random.default_rng(seed)
    labels = np.sort(rng.integers(0, N_SEEN, n_train))
    len_a, len_v = window_counts(n_train, rng), window_counts(n_train, rng)
    text = rng.standard_normal((N_SEEN + N_VAL_UNSEEN, dim_text), dtype=np.float32)
    return Clips(labels=labels, audio_lengths=len_a, video_lengths=len_v,
                 audio=rng.standard_normal((int(len_a.sum()), dim_av), dtype=np.float32),
                 video=rng.standard_normal((int(len_v.sum()), dim_av), dtype=np.float32),
                 text=text / np.linalg.norm(text, axis=1, keepdims=True))


def feature_split(clips: Clips) -> FeatureSplit:
    """The clips as avgzsl holds a temporal-features split: sequences, and their means as the clip-level rows."""
    audio = Sequences.from_arrays(clips.audio, clips.audio_lengths, window_s=1.0, hop_s=1.0)
    video = Sequences.from_arrays(clips.video, clips.video_lengths, window_s=1.0, hop_s=1.0)
    n, n_classes = len(clips.labels), len(clips.text)
    return FeatureSplit(
        clip_ids=[f"v{i}" for i in range(n)], audio=audio.means(), video=video.means(),
        has_audio=torch.ones(n, dtype=torch.bool), has_video=torch.ones(n, dtype=torch.bool),
        labels=torch.from_numpy(clips.labels), text=torch.from_numpy(clips.text),
        classes=ClassTable(names=[f"k{i:03d}" for i in range(n_classes)], seen=np.arange(n_classes) < N_SEEN),
        audio_seq=audio, video_seq=video,
    )


def experiment(device: torch.device, batches: int, extra_pass: bool):
    # no val split here: the vggsound presets keep the learning rate fixed, and the epoch is what is timed
    return build_experiment(name="tcaf", preset_name=PRESET,
                            model={"kind": "tcaf", "audio_dim": DIM_AV, "video_dim": DIM_AV, "text_dim": DIM_TEXT},
                            train={"lr_schedule": "none", "select_epoch": False, "device": str(device),
                                   "batches_per_epoch": batches, "avca_extra_embedding_pass": extra_pass})


def print_epochs(title: str, times: np.ndarray, floors: np.ndarray, scale: float, epochs: int,
                 flops_epoch: float | None = None) -> np.ndarray:
    """The lines every timed model prints; returns epoch / floor per timed epoch."""
    ratios = times / floors
    print(title)
    print(f"  seconds per epoch        {np.median(times) * scale:8.3f}  (min {times.min() * scale:.3f}, "
          f"max {times.max() * scale:.3f}; {epochs} epochs)")
    if flops_epoch is not None:
        print(f"  FLOPs per epoch (f+b)    {flops_epoch * scale / 1e9:8.1f} GFLOP  (products: the floor's rate "
              f"{flops_epoch / np.median(floors) / 1e9:.1f} GFLOP/s)")
    print(f"  floor (products alone)   {np.median(floors) * scale:8.3f} s")
    print(f"  epoch / floor            {np.median(ratios):8.2f}  (min {ratios.min():.2f}, max {ratios.max():.2f})")
    return ratios


def bench(variant: str, split: FeatureSplit, device: torch.device, epochs: int, batches: int,
          report: TimingReport) -> None:
    cfg = experiment(device, batches, VARIANTS[variant])
    step = training_step(cfg, split, device, N_SEEN)
    step()  # warm-up
    times, floors, calls, flops_epoch = time_epochs(cfg, split, step, device, batches=batches, epochs=epochs)
    times = np.array(times)
    scale = EPOCH_BATCHES / batches  # --batches times a part of the preset's 300-batch epoch
    print_epochs(f"avgzsl tcaf, {variant}: preset {PRESET}, batch {cfg.train.batch_size}, {batches} batches timed "
                 f"per epoch (scaled to {EPOCH_BATCHES}), {len(calls)} products/step, "
                 f"{product_flops(calls) / 1e9:.2f} GFLOP in products/step",
                 times, np.array(floors), scale, epochs, flops_epoch)
    report.add(Spread(f"tcaf {variant} epoch", list(times * scale)), quiet=True)


def their(args, clips: Clips, device: torch.device, report: TimingReport) -> None:
    """Their epoch, scaled to EPOCH_BATCHES: the start (until the first batch arrives) once, the rest per batch."""
    from _tcaf_repo import their_epochs

    title, starts, rests, floors = their_epochs(args.tcaf_repo.resolve(), clips, args.workdir.resolve(), device,
                                                args.epochs, args.batches)
    scale = EPOCH_BATCHES / args.batches
    times = (starts + rests * scale) / scale  # so that print_epochs' scaling gives start + scaled rest
    print_epochs(f"{title}, {args.batches} batches timed per epoch (scaled to {EPOCH_BATCHES}; the start of an "
                 f"epoch, {np.median(starts):.2f} s until the first batch, counted once)", times, floors, scale,
                 args.epochs)
    report.add(Spread("their tcaf epoch", list(times * scale)), quiet=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs (after one warm-up epoch)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batches", type=int, default=EPOCH_BATCHES,
                        help=f"batches timed per epoch ({EPOCH_BATCHES}: a full epoch)")
    parser.add_argument("--variants", default="preset,extra-pass", help=f"comma-separated: {', '.join(VARIANTS)}")
    parser.add_argument("--clips", type=int, default=N_TRAIN, help="training clips (fewer: a quick check)")
    parser.add_argument("--tcaf-repo", type=Path, help="a checkout of TCAF-GZSL: also time their own epoch")
    parser.add_argument("--workdir", type=Path, default=Path("tcaf_epoch_work"),
                        help="where their on-disk layout and their loader's caches are written (with --tcaf-repo)")
    args = parser.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"error: --variants: unknown {unknown}; choose from {sorted(VARIANTS)}")
    keep_freed_memory()  # as the workflow's training jobs do (avgzsl/runtime/cpu_memory.py)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    report = TimingReport()
    print(f"device={device} torch={torch.__version__} threads={torch.get_num_threads()}")
    clips = synthetic_clips(args.clips)
    print(f"VGGSound-GZSL stage 1 (synthetic): {len(clips.labels)} train clips, {N_SEEN} seen classes, "
          f"{DIM_AV}/{DIM_AV}-d audio/video windows, <= {MAX_WINDOWS} windows a clip "
          f"(mean {clips.audio_lengths.mean():.2f} audio, {clips.video_lengths.mean():.2f} video), {DIM_TEXT}-d text")
    split = feature_split(clips)
    for variant in variants:
        bench(variant, split, device, args.epochs, args.batches, report)
    del split
    if args.tcaf_repo:
        their(args, clips, device, report)
    report.finish()


if __name__ == "__main__":
    main()
