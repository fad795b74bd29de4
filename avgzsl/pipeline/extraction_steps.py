"""Extraction steps of the workflow: audio-CNN training, one audio shard, and what every shard step shares.

The video step lives in `avgzsl.pipeline.video_steps`, so that the audio rules do not import I3D (a rule's code
inputs are the modules its script imports). Each takes a shard's media table (see avgzsl.pipeline.media_steps) and the rule's config slices.
Clips the media step could not provide (a vanished video, a missing file) go
straight into the shard's status table with that reason, so the reason survives.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd
import torch
from avgzsl_extractors import windows
from avgzsl_extractors.decode import DecodeConfig
from avgzsl_extractors.extract import ExtractJobConfig, extract_audio_shard
from avgzsl_extractors.logmel import LogMelConfig, num_frames
from avgzsl_extractors.shard_collector import SequenceOutput

from avgzsl.formats.manifest import ClassTable
from avgzsl.formats.media_tables import read_media_table
from avgzsl.formats.shards import read_status_table, write_status_table
from avgzsl.runtime.device import resolve_device, set_torch_threads

log = logging.getLogger("avgzsl.extract")


def extraction_job(threads: int, device: torch.device) -> ExtractJobConfig:
    """Decode workers follow the rule's `threads:`. On a GPU the model waits for the decoders, whose Python
    parts hold the GIL, so they run as processes there; on a CPU threads suffice (the model is the bottleneck)."""
    workers = max(1, int(threads or 1))
    return ExtractJobConfig(workers=workers, progress=False, processes=device.type == "cuda" and workers > 1)


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


def logmel_cache_dir(out: str | os.PathLike) -> Path:
    """Where the training step caches log-mels: beside the checkpoint, `<checkpoint stem>.logmel/`."""
    out = Path(out)
    return out.with_name(f"{out.stem}.logmel")


def train_audio_cnn_step(
    *, media_tables: list[str], manifest: str, classes: str, decode: dict, logmel: dict, model: dict, train: dict,
    device: str, threads: int, out: str, cache_dir: str | os.PathLike | None = None,
) -> dict:
    """Cache the seen-class train clips' log-mels on disk, shard by shard, then train (or resume) the CNN.

    Memory stays at a few clips while caching and a few batches while training, whatever the number
    of clips: the log-mels are written per media shard to a float16 cache (avgzsl_extractors.logmel_cache)
    and streamed back. Shards whose cache already matches (settings and clip list) are not decoded again.
    """
    from avgzsl_extractors.audio_train import AudioTrainConfig, train_audio_cnn
    from avgzsl_extractors.logmel_cache import (
        CacheFiles,
        LogMelStore,
        cache_is_current,
        cache_settings,
        read_cache_index,
        write_logmel_cache,
    )

    set_torch_threads(threads)
    dev = resolve_device(device)
    class_table = ClassTable.read(classes)
    seen = set(class_table.seen_names)
    logmel_cfg, decode_cfg = _logmel_cfg(decode, logmel), decode_config(decode)
    frames = num_frames(decode_cfg.max_seconds, logmel_cfg)
    settings = cache_settings(logmel_cfg, decode_cfg, frames)
    cache_dir = Path(cache_dir) if cache_dir is not None else logmel_cache_dir(out)
    job = extraction_job(threads, dev)
    parts, labels, splits = [], [], []
    n_listed = 0
    # labels come from the manifest, not the media tables: relabelling a clip re-runs no media job
    labels_of = pd.read_csv(manifest, dtype={"clip_id": str}, keep_default_na=False).set_index("clip_id")[
        ["class", "split"]]
    for table_path in media_tables:
        # (media tables written before the labels left them still carry class and split: today's win)
        media = read_media_table(table_path).drop(columns=["class", "split"], errors="ignore").join(
            labels_of, on="clip_id")
        n_listed += len(media)
        # decoding unseen or non-train clips would be wasted work: the trainer refuses them anyway
        rows = media[(media["status"] == "ok") & (media["split"] == "trn") & media["class"].isin(seen)]
        files = CacheFiles.for_stem(cache_dir / Path(table_path).stem)
        if cache_is_current(files, settings, list(rows["clip_id"].astype(str))):
            log.info("log-mel cache %s is current (%d clips)", files.array, len(rows))
        else:
            write_logmel_cache(rows, files.array.with_suffix(""), logmel_cfg=logmel_cfg, decode_cfg=decode_cfg,
                               frames=frames, job=job)
            log.info("log-mel cache %s written (%d clips)", files.array, len(rows))
        index = read_cache_index(files)
        for s in index[index["row"] < 0].itertuples():
            log.info("skipped %s: %s", s.clip_id, s.reason)
        cached = index[index["row"] >= 0]
        if len(cached):
            parts.append((files.array, cached["row"].to_numpy()))
            # today's labels, not the ones the cache was written with: a cache stays current when only labels change
            labels += list(cached["clip_id"].map(labels_of["class"]).astype(str))
            splits += list(cached["clip_id"].map(labels_of["split"]).astype(str))
    log.info("audio CNN: %d seen-class train clips with log-mels (of %d listed)", len(labels), n_listed)
    if not parts:
        raise ValueError(f"no seen-class trn clip with usable audio in {len(media_tables)} media table(s)")
    cfg = AudioTrainConfig(**train, device=device, progress=False,
                           model={**model, "n_mels": logmel_cfg.n_mels})
    with LogMelStore(parts) as store:
        return train_audio_cnn(store, labels, classes=class_table, splits=splits, cfg=cfg,
                               checkpoint_path=out, log=log.info)


def audio_sequence_output(path: str, temporal: dict, model_config, logmel_cfg: LogMelConfig) -> tuple:
    """The audio sequence shard's windows, in columns of the CNN's last map and in seconds.

    `temporal` is the config's `extract.temporal`; its window and hop must be whole multiples of the column step
    (2^pools log-mel hops), which the config check makes sure of before any job runs.
    """
    column_s = windows.column_seconds(len(model_config.channels), model_config.pool_after, logmel_cfg.hop_length,
                                      logmel_cfg.sample_rate)
    window = windows.seconds_to_columns(temporal["audio_window_s"], column_s, "extract.temporal.audio_window_s")
    hop = windows.seconds_to_columns(temporal["audio_hop_s"], column_s, "extract.temporal.audio_hop_s")
    tail = temporal["audio_tail_window"]
    output = SequenceOutput(path, window_s=window * column_s, hop_s=hop * column_s, settings={
        "sequence": {"column_s": column_s, "window_columns": window, "hop_columns": hop, "tail_window": tail}})
    return output, (window, hop, tail)


def extract_audio_step(*, media: str, model: str, decode: dict, logmel: dict, device: str, threads: int,
                       out_features: str, out_status: str, autocast: str = "none", temporal: dict | None = None,
                       out_sequences: str | None = None) -> None:
    """One audio shard; with `out_sequences` (and `temporal`, the config's `extract.temporal`) the same pass of
    the CNN also writes each clip's window sequence there."""
    from avgzsl_extractors.audio_cnn import ColumnWindows, load_audio_cnn, make_embed_fn, make_sequence_embed_fn

    set_torch_threads(threads)
    dev = resolve_device(device)
    table = read_media_table(media)
    usable, lost = split_by_media(table)
    cnn, meta = load_audio_cnn(model, device=dev)
    logmel_cfg, decode_cfg = _logmel_cfg(decode, logmel), decode_config(decode)
    sequences = None
    embed_fn = make_embed_fn(cnn, dev, autocast_mode=autocast)
    if out_sequences is not None:
        sequences, (window, hop, tail) = audio_sequence_output(out_sequences, temporal or {}, meta["config"],
                                                               logmel_cfg)
        embed_fn = make_sequence_embed_fn(cnn, ColumnWindows(window, hop, tail), dev, autocast_mode=autocast)
    tmp_status = Path(out_status).with_name(f".{Path(out_status).name}.partial")
    summary = extract_audio_shard(
        usable, out_features=out_features, out_status=tmp_status, embed_fn=embed_fn,
        logmel_cfg=logmel_cfg, decode_cfg=decode_cfg, settings={"model": meta["config"].to_dict(), "autocast": autocast},
        job=extraction_job(threads, dev), sequences=sequences,
    )
    finish_status(tmp_status, lost, table, out_status)
    log.info("audio shard: %d ok, %d skipped, %d lost before extraction; decode %.1fs model %.1fs",
             summary.n_ok, summary.n_skipped, len(lost), summary.decode_seconds, summary.model_seconds)
