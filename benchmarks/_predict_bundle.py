"""A bundle for timing `avgzsl predict`: real networks, untrained where training would not change the speed.

The parts are what `avgzsl bundle` packs, made without a training run: a freshly initialised AVGZSLNet (the
embedding model), the audio CNN with the configured architecture and random weights, DeepMind's Kinetics-400
I3D (the real converted weights, as the workflow's `i3d_weights` rule writes them), the demo's class table
and the packaged GloVe vectors. The extraction settings are not written by hand: the workflow's own
extraction steps run once on a one-second clip, and the bundle's own reader takes them from the shards
they wrote, as `avgzsl bundle` does from a run's shards.

Settings: `paper` (the schema's defaults, which config/audiosetzsl.yaml writes out: 25 fps, 224 px crops of
64-frame windows, the paper's audio CNN widths) or `demo` (config/config.yaml's smaller ones).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from avgzsl_extractors.audio_cnn import AudioCNNConfig, create_audio_cnn, save_checkpoint
from avgzsl_extractors.i3d_weights import write_kinetics400_weights
from avgzsl_extractors.text import GLOVE_6B_50D, vector_file

from avgzsl.datasets.demo import DemoConfig, demo_classes, render_clip
from avgzsl.formats.media_tables import write_media_table
from avgzsl.formats.torch_files import save_torch_file
from avgzsl.inference.bundle import (
    AUDIO_CNN,
    BUNDLE_FORMAT,
    BUNDLE_VERSION,
    CHECKPOINT,
    CLASSES,
    MANIFEST,
    PARTS,
    SETTINGS,
    extraction_settings,
    sha256_file,
)
from avgzsl.inference.clip_features import clip_table
from avgzsl.models.registry import create_model
from avgzsl.pipeline.extraction_steps import extract_audio_step
from avgzsl.pipeline.video_steps import extract_video_step
from avgzsl.settings.experiment import build_experiment
from avgzsl.training.checkpoint import _checkpoint  # the training's own checkpoint layout

GLOVE_DIM = 50
DECODE = {"sample_rate": 16000, "fps": 25, "max_seconds": 10.0}
VIDEO = {
    "paper": {"weights": "kinetics400", "fps": 25, "crop_size": 224, "resize_short_side": 256,
              "window_frames": 64, "window_stride": 64, "tail_window": "aligned"},
    "demo": {"weights": "kinetics400", "fps": 8, "crop_size": 112, "resize_short_side": 112,
             "window_frames": 32, "window_stride": 32, "tail_window": "aligned"},
}
AUDIO_CHANNELS = {"paper": (64, 128, 256, 256, 512, 512, 1024), "demo": (16, 32, 64, 64, 128, 128, 1024)}


def write_networks(folder: Path, settings: str) -> tuple[Path, Path, Path]:
    """The audio CNN, the embedding model's checkpoint and the Kinetics I3D weights file, in `folder`."""
    classes = demo_classes()
    audio_cfg = AudioCNNConfig(channels=AUDIO_CHANNELS[settings])
    audio = save_checkpoint(folder / AUDIO_CNN, create_audio_cnn(n_classes=len(classes.seen_names), config=audio_cfg),
                            audio_cfg, classes.seen_names)
    cfg = build_experiment(name="predict-benchmark", model={"text_dim": GLOVE_DIM})
    model = create_model(cfg.model, cfg.loss)
    checkpoint = save_torch_file(_checkpoint(cfg, model, 0, selected=True), folder / CHECKPOINT)
    weights = folder / "i3d_kinetics400.pt"
    write_kinetics400_weights(weights, folder / "i3d_kinetics400.sha256")
    return audio, checkpoint, weights


def recorded_settings(folder: Path, audio_cnn: Path, weights: Path, settings: str) -> dict:
    """The extraction settings as the workflow's steps record them in shards, read back by the bundle code."""
    probe = render_clip("dog", "probe", folder / "probe.mp4", DemoConfig(seconds=1.0, size=64))
    media = folder / "probe.tsv"
    write_media_table(str(media), clip_table([probe]))
    features = folder / "results" / "features"
    for modality in ("audio", "video"):
        (features / modality).mkdir(parents=True, exist_ok=True)
    common = dict(media=str(media), decode=DECODE, device="cpu", threads=1)
    extract_audio_step(model=str(audio_cnn), logmel={}, out_features=str(features / "audio" / "shard_00000.h5"),
                       out_status=str(features / "audio" / "shard_00000.tsv"), **common)
    extract_video_step(weights_file=str(weights), video=VIDEO[settings],
                       out_features=str(features / "video" / "shard_00000.h5"),
                       out_status=str(features / "video" / "shard_00000.tsv"), **common)
    extraction = extraction_settings(folder / "results")
    extraction["video"]["weights"]["hint"] = str(weights.resolve())
    return extraction


def make_bundle(out: Path, work: Path, settings: str = "paper") -> tuple[Path, Path]:
    """A bundle folder at `out` (parts made in `work`); returns it and the I3D weights file predict needs."""
    work.mkdir(parents=True, exist_ok=True)
    audio_cnn, checkpoint, weights = write_networks(work, settings)
    extraction = recorded_settings(work, audio_cnn, weights, settings)
    out.mkdir(parents=True)
    os.replace(audio_cnn, out / AUDIO_CNN)
    os.replace(checkpoint, out / CHECKPOINT)
    demo_classes().write(out / CLASSES)
    text = {"source": GLOVE_6B_50D, "normalize": True, "binary": None, "limit": None,
            "sha256": sha256_file(vector_file(GLOVE_6B_50D))}
    run = {"experiment": "predict-benchmark", "model": "avgzslnet", "seed": 0, "protocol": "paper"}
    (out / SETTINGS).write_text(json.dumps({"run": run, "calibration_beta": {}, "extraction": extraction,
                                            "text": text}, indent=2, sort_keys=True) + "\n")
    parts = {name: {"sha256": sha256_file(out / name), "bytes": (out / name).stat().st_size} for name in PARTS}
    (out / MANIFEST).write_text(json.dumps({"format": BUNDLE_FORMAT, "format_version": BUNDLE_VERSION,
                                            "parts": parts}, indent=2, sort_keys=True) + "\n")
    return out, weights
