"""Extraction steps of the workflow: audio-CNN training, one audio shard, and what every shard step shares.

The video step lives in `extractors.video_step`, so that the audio rules do not import I3D (a rule's code
inputs are the modules its script imports). Each takes a shard's media table (see avgzsl.steps) and the rule's config slices.
Clips the media step could not provide (a vanished video, a missing file) go
straight into the shard's status table with that reason, so the reason survives.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from avgzsl.dataset import ClassTable
from avgzsl.features import read_status_table, write_status_table
from avgzsl.workflow_utils import read_media_table
from extractors.decode import DecodeConfig
from extractors.extract import ExtractJobConfig, extract_audio_shard, load_audio_for_training
from extractors.logmel import LogMelConfig, num_frames

log = logging.getLogger("avgzsl.extract")


def setup_device(device: str, threads: int | None) -> torch.device:
    if threads:
        torch.set_num_threads(threads)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def split_by_media(media: pd.DataFrame) -> tuple[pd.DataFrame, list[dict]]:
    usable = media[media["status"] == "ok"]
    lost = [
        {"clip_id": r.clip_id, "status": "skipped", "reason": f"media {r.status}: {r.reason}"}
        for r in media[media["status"] != "ok"].itertuples()
    ]
    return usable, lost


def finish_status(tmp_status: Path, lost: list[dict], media: pd.DataFrame, out_status: str) -> None:
    """Merge extraction's status with the media step's losses, in manifest order; written last."""
    lost_table = pd.DataFrame(lost, columns=["clip_id", "status", "reason"]).assign(flags="")
    table = pd.concat([read_status_table(tmp_status), lost_table])
    table = table.set_index("clip_id").loc[media["clip_id"]].reset_index()
    write_status_table(out_status, table)
    tmp_status.unlink()


def _logmel_cfg(decode: dict, logmel: dict) -> LogMelConfig:
    return LogMelConfig(sample_rate=decode["sample_rate"], **logmel)


def decode_config(decode: dict, **overrides) -> DecodeConfig:
    return DecodeConfig(**{**decode, **overrides})


def train_audio_cnn_step(
    *, media_tables: list[str], classes: str, decode: dict, logmel: dict, model: dict, train: dict,
    device: str, threads: int, out: str,
) -> dict:
    """Decode the seen-class train clips, then train (or resume) the audio CNN on their log-mels."""
    from extractors.audio_train import AudioTrainConfig, train_audio_cnn

    setup_device(device, threads)
    class_table = ClassTable.read(classes)
    media = pd.concat([read_media_table(p) for p in media_tables])
    seen = set(class_table.seen_names)
    # decoding unseen or non-train clips would be wasted work: the trainer refuses them anyway
    rows = media[(media["status"] == "ok") & (media["split"] == "trn") & media["class"].isin(seen)]
    log.info("audio CNN: %d seen-class train clips with media (of %d listed)", len(rows), len(media))
    logmel_cfg, decode_cfg = _logmel_cfg(decode, logmel), decode_config(decode)
    specs, ids, status = load_audio_for_training(
        rows, logmel_cfg, decode_cfg, num_frames(decode_cfg.max_seconds, logmel_cfg),
        job=ExtractJobConfig(workers=max(1, threads), progress=False), dtype=np.float16,
    )
    skipped = [s for s in status if s["status"] != "ok"]
    for s in skipped:
        log.info("skipped %s: %s", s["clip_id"], s["reason"])
    info = rows.set_index("clip_id").loc[ids]
    cfg = AudioTrainConfig(**train, device=device, progress=False,
                           model={**model, "n_mels": logmel_cfg.n_mels})
    history = train_audio_cnn(
        [s.astype(np.float32) for s in specs], list(info["class"]), classes=class_table,
        splits=list(info["split"]), cfg=cfg, checkpoint_path=out, log=log.info,
    )
    return history


def extract_audio_step(*, media: str, model: str, decode: dict, logmel: dict, device: str, threads: int,
                       out_features: str, out_status: str) -> None:
    from extractors.audio_cnn import load_audio_cnn, make_embed_fn

    dev = setup_device(device, threads)
    table = read_media_table(media)
    usable, lost = split_by_media(table)
    cnn, meta = load_audio_cnn(model, device=dev)
    logmel_cfg, decode_cfg = _logmel_cfg(decode, logmel), decode_config(decode)
    tmp_status = Path(out_status).with_name(f".{Path(out_status).name}.partial")
    summary = extract_audio_shard(
        usable, out_features=out_features, out_status=tmp_status, embed_fn=make_embed_fn(cnn, dev),
        logmel_cfg=logmel_cfg, decode_cfg=decode_cfg, settings={"model": meta["config"].to_dict()},
        job=ExtractJobConfig(workers=2, progress=False),
    )
    finish_status(tmp_status, lost, table, out_status)
    log.info("audio shard: %d ok, %d skipped, %d lost before extraction; decode %.1fs model %.1fs",
             summary.n_ok, summary.n_skipped, len(lost), summary.decode_seconds, summary.model_seconds)
