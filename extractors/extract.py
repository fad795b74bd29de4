"""One extraction job: a shard of manifest rows in, one feature shard and its status table out.

Decoding (and, for audio, the log-mel) runs in a pool of threads or processes
(extractors/prefetch.py) a bounded number of clips ahead of the model, so the model
rarely waits for ffmpeg. Results are consumed in manifest order, which keeps the
output deterministic whatever the timing. A log line every `progress_interval`
seconds gives clips done, clips/s and the time left.

With a `SequenceOutput`, the same pass also writes each kept clip's window sequence (the vectors its
feature averages) into a sequence shard, before the status table; the feature shard is written as without it.

Every row ends in exactly one status row: `ok`, or `skipped` with the reason (bad
media, no such stream, an embedding with NaN). Failures that are not about one clip
— the model raising, an embedding of the wrong shape, a full disk — propagate and
leave neither output file behind. The features are written first and the status
table last, both atomically, so an existing status table means a finished shard.
"""

from __future__ import annotations

import os
import time
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from avgzsl_extractors.decode import SKIPPED, DecodeConfig, DecodedClip, decode_clip, media_path
from avgzsl_extractors.logmel import LogMelConfig, fixed_length, log_mel, num_frames
from avgzsl_extractors.prefetch import ProgressLog, prefetched
from avgzsl_extractors.shard_collector import Prepared, SequenceOutput, ShardCollector, status_row
from avgzsl_extractors.stage_times import stage
from tqdm import tqdm

from avgzsl.formats.sequence_shards import write_sequence_shard
from avgzsl.formats.shards import SILENT_AUDIO, write_feature_shard, write_status_table

FEATURE_DIM = 1024
ROW_COLUMNS = ("clip_id", "path")
MODEL_STAGES = {"audio": "audio CNN", "video": "I3D"}  # each modality's network among the stage times


@dataclass
class ExtractJobConfig:
    # decode workers; 0 decodes inline (no overlap with the model). Decoding a clip costs a core several
    # times what a GPU spends on its I3D windows (benchmarks/README.md), so a GPU job needs several workers
    workers: int = field(default_factory=lambda: min(8, os.cpu_count() or 1))
    lookahead: int = 16  # clips decoded ahead of the model; bounds memory (~65 MB per video clip)
    progress: bool = True  # tqdm bar on stderr
    media_root: str | None = None  # resolves relative manifest paths
    processes: bool = False  # decode in worker processes (GPU jobs) instead of threads
    progress_interval: float = 30.0  # seconds between progress log lines; 0: only the closing line

    def __post_init__(self) -> None:
        if self.workers < 0 or self.lookahead < 1:
            raise ValueError(f"workers must be >= 0 and lookahead >= 1, got {self.workers}, {self.lookahead}")


@dataclass
class ShardSummary:
    features_path: Path | None
    status_path: Path | None
    n_ok: int
    n_skipped: int
    dim: int
    decode_seconds: float = 0.0  # summed over clips, in the decode threads (decode + preprocess)
    model_seconds: float = 0.0  # summed embed_fn calls, on the main thread
    wall_seconds: float = 0.0
    skipped: dict[str, str] = field(default_factory=dict)  # clip_id -> reason


def extract_audio_shard(
    rows: pd.DataFrame,
    *,
    out_features: str | os.PathLike,
    out_status: str | os.PathLike,
    embed_fn: Callable[[np.ndarray], np.ndarray],
    logmel_cfg: LogMelConfig | None = None,
    decode_cfg: DecodeConfig | None = None,
    batch_size: int = 16,
    settings: dict | None = None,
    frames: int | None = None,
    job: ExtractJobConfig | None = None,
    extractor: str = "audio_cnn",
    sequences: SequenceOutput | None = None,
) -> ShardSummary:
    """Audio features for `rows`; `embed_fn((B, n_mels, frames) float32) -> (B, D)`.

    Every spectrogram is cropped or wrapped to `frames` (default: the frames of a
    `decode_cfg.max_seconds` clip) so that clips batch together. With `sequences`,
    `embed_fn(batch, clip_frames) -> ((B, D), B sequences (T_i, D))`, where `clip_frames`
    holds each clip's log-mel frames before the wrap (`audio_cnn.make_sequence_embed_fn`).
    """
    logmel_cfg = logmel_cfg or LogMelConfig()
    decode_cfg = decode_cfg or DecodeConfig()
    _check_rates(logmel_cfg, decode_cfg)
    frames = frames or num_frames(decode_cfg.max_seconds, logmel_cfg)
    prepare = _AudioPreparer(logmel_cfg, decode_cfg, frames, job or ExtractJobConfig(), sequences is not None)
    recorded = {
        **(settings or {}),
        "decode": asdict(decode_cfg),
        "logmel": asdict(logmel_cfg),
        "frames": frames,
    }
    return _run_shard(
        rows,
        modality="audio",
        prepare=prepare,
        embed=_with_clip_frames(embed_fn) if sequences else lambda items: embed_fn(np.stack(items)),
        out_features=out_features,
        out_status=out_status,
        batch_size=batch_size,
        settings=recorded,
        job=job or ExtractJobConfig(),
        extractor=extractor,
        sequences=sequences,
    )


def _with_clip_frames(embed_fn: Callable) -> Callable[[list], Any]:
    """Items (spec (n_mels, frames), the clip's own frames) -> embed_fn(stacked specs, frame counts)."""
    return lambda items: embed_fn(np.stack([spec for spec, _ in items]), [n for _, n in items])


def extract_video_shard(
    rows: pd.DataFrame,
    *,
    out_features: str | os.PathLike,
    out_status: str | os.PathLike,
    embed_fn: Callable[[list], np.ndarray],
    decode_cfg: DecodeConfig | None = None,
    batch_size: int = 4,
    settings: dict | None = None,
    preprocess_fn: Callable[[np.ndarray], Any] | None = None,
    job: ExtractJobConfig | None = None,
    extractor: str = "i3d",
    sequences: SequenceOutput | None = None,
) -> ShardSummary:
    """Video features for `rows`; `embed_fn([frames (T, H, W, 3) uint8, ...]) -> (B, D)`
    (with `sequences`: `-> ((B, D), B window sequences (T_i, D))`, `video.video_features(..., sequences=True)`).

    `preprocess_fn`, if given, runs per clip in the decode workers (e.g. resize and
    crop on the CPU) and its output replaces the raw frames in the list given to
    `embed_fn`; a ValueError from it skips that clip with the message as reason.
    With `job.processes` it must pickle (e.g. `functools.partial` of a module function).
    """
    decode_cfg = decode_cfg or DecodeConfig()
    job = job or ExtractJobConfig()

    prepare = _VideoPreparer(decode_cfg, job, preprocess_fn)

    recorded = {**(settings or {}), "decode": asdict(decode_cfg)}
    return _run_shard(
        rows,
        modality="video",
        prepare=prepare,
        embed=lambda items: embed_fn(list(items)),
        out_features=out_features,
        out_status=out_status,
        batch_size=batch_size,
        settings=recorded,
        job=job,
        extractor=extractor,
        sequences=sequences,
    )


def load_audio_for_training(
    rows: pd.DataFrame,
    logmel_cfg: LogMelConfig | None = None,
    decode_cfg: DecodeConfig | None = None,
    frames: int | None = None,
    *,
    job: ExtractJobConfig | None = None,
    dtype: Any = np.float32,
) -> tuple[np.ndarray, list[str], list[dict]]:
    """Fixed-length log-mels of every decodable clip, for training the audio CNN.

    Returns `(specs (N_ok, n_mels, frames), clip_ids (N_ok), status rows (len(rows)))`.
    Memory is N_ok * n_mels * frames * itemsize: 256 KB per 10 s clip in float32, so
    the ~72k AudioSetZSL seen-class training clips need ~18 GB (half with float16).
    """
    logmel_cfg = logmel_cfg or LogMelConfig()
    decode_cfg = decode_cfg or DecodeConfig()
    job = job or ExtractJobConfig(progress=False)
    _check_rates(logmel_cfg, decode_cfg)
    frames = frames or num_frames(decode_cfg.max_seconds, logmel_cfg)
    records = _records(rows)
    prepare = _audio_preparer(logmel_cfg, decode_cfg, frames, job)
    specs = np.empty((len(records), logmel_cfg.n_mels, frames), dtype=dtype)  # filled up to n_ok
    clip_ids: list[str] = []
    status: list[dict] = []
    bar = tqdm(total=len(records), unit="clip", desc="log-mel", disable=not job.progress)
    # closing(): a failure here must stop the decode threads now, not whenever the generator is collected
    with bar, closing(_prefetched(prepare, records, job.workers, job.lookahead, job.processes)) as stream:
        for prepared in stream:
            bar.update(1)
            if prepared.item is None:
                status.append(status_row(prepared.clip_id, prepared.reason))
                continue
            specs[len(clip_ids)] = prepared.item
            clip_ids.append(prepared.clip_id)
            status.append(status_row(prepared.clip_id, "", prepared.flags))
    return specs[: len(clip_ids)], clip_ids, status


@dataclass
class _AudioPreparer:
    """Decode one row and compute its fixed-length log-mel; a dataclass so worker processes can receive it."""

    logmel_cfg: LogMelConfig
    decode_cfg: DecodeConfig
    frames: int
    job: ExtractJobConfig
    clip_frames: bool = False  # item = (spec, the clip's own frames before the wrap), for its sequence

    def __call__(self, row: dict) -> Prepared:
        started, stages = time.perf_counter(), {}
        with stage("decode audio", into=stages):
            clip_id, clip = _decode_row(row, self.decode_cfg, self.job, audio=True, video=False)
        if not clip.audio_ok:
            return Prepared(clip_id, None, clip.audio_reason, time.perf_counter() - started, stages=stages)
        try:
            with stage("log-mel", into=stages):
                spec = log_mel(clip.audio, self.logmel_cfg)  # (n_mels, the clip's frames)
                item = fixed_length(spec, self.frames)  # (n_mels, frames)
        except ValueError as err:
            return Prepared(clip_id, None, f"log-mel failed: {err}", time.perf_counter() - started, stages=stages)
        # a silent track is still a valid input (its log-mel is the floor), but a user should know of it
        flags = SILENT_AUDIO if clip.audio_silent else ""
        item = (item, spec.shape[1]) if self.clip_frames else item
        return Prepared(clip_id, item, "", time.perf_counter() - started, flags, stages)


def _audio_preparer(
    logmel_cfg: LogMelConfig, decode_cfg: DecodeConfig, frames: int, job: ExtractJobConfig
) -> Callable[[dict], Prepared]:
    return _AudioPreparer(logmel_cfg, decode_cfg, frames, job)


@dataclass
class _VideoPreparer:
    """Decode one row's frames and optionally preprocess them; picklable for worker processes."""

    decode_cfg: DecodeConfig
    job: ExtractJobConfig
    preprocess_fn: Callable[[np.ndarray], Any] | None = None

    def __call__(self, row: dict) -> Prepared:
        started, stages = time.perf_counter(), {}
        with stage("decode video", into=stages):
            clip_id, clip = _decode_row(row, self.decode_cfg, self.job, audio=False, video=True)
        if not clip.video_ok:
            return Prepared(clip_id, None, clip.video_reason, time.perf_counter() - started, stages=stages)
        item = clip.frames
        if self.preprocess_fn is not None:
            try:
                with stage("video preprocess", into=stages):
                    item = self.preprocess_fn(clip.frames)
            except ValueError as err:
                return Prepared(clip_id, None, f"preprocessing failed: {err}", time.perf_counter() - started,
                                stages=stages)
        flags = f"rotated_{clip.rotation}" if clip.rotation else ""
        return Prepared(clip_id, item, "", time.perf_counter() - started, flags, stages)


def _decode_row(
    row: dict, cfg: DecodeConfig, job: ExtractJobConfig, *, audio: bool, video: bool
) -> tuple[str, DecodedClip]:
    clip_id = str(row["clip_id"])
    path = row.get("path")
    if path is None or (isinstance(path, float) and np.isnan(path)) or str(path).strip() == "":
        reason = "no media path in the manifest"
        return clip_id, DecodedClip(None, None, SKIPPED, SKIPPED, reason, reason)
    try:
        start, end = _seconds(row.get("start")), _seconds(row.get("end"))
    except ValueError as err:
        reason = f"clip {clip_id}: {err}"
        return clip_id, DecodedClip(None, None, SKIPPED, SKIPPED, reason, reason)
    clip = decode_clip(media_path(str(path), job.media_root), start, end, cfg, audio=audio, video=video)
    return clip_id, clip


def _seconds(value: Any) -> float | None:
    """A manifest time: None (whole clip) for a missing or empty cell, which a TSV read as text gives as ''."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"the manifest's time {value!r} is not a number of seconds") from err
    return None if np.isnan(seconds) else seconds


def _check_rates(logmel_cfg: LogMelConfig, decode_cfg: DecodeConfig) -> None:
    if logmel_cfg.sample_rate != decode_cfg.sample_rate:
        raise ValueError(
            f"log-mel expects {logmel_cfg.sample_rate} Hz but decoding produces {decode_cfg.sample_rate} Hz"
        )


def _records(rows: pd.DataFrame) -> list[dict]:
    missing = [c for c in ROW_COLUMNS if c not in rows.columns]
    if missing:
        raise ValueError(f"manifest rows lack column(s) {missing}")
    ids = rows["clip_id"].astype(str)
    if ids.duplicated().any():
        raise ValueError(f"duplicate clip_id {ids[ids.duplicated()].iloc[0]!r} in the shard")
    return rows.to_dict("records")


def _prefetched(fn: Callable[[Any], Any], items, workers: int, lookahead: int, processes: bool = False):
    """`map(fn, items)` in order, computed ahead by a pool (avgzsl_extractors.prefetch.prefetched)."""
    return prefetched(fn, items, workers, lookahead, processes=processes)


def _embed_all(records: list[dict], prepare: Callable[[dict], Prepared], collector: ShardCollector,
               job: ExtractJobConfig, label: str) -> None:
    """Every row through the decode pool and into `collector`, in manifest order."""
    bar = tqdm(total=len(records), unit="clip", desc=label, disable=not job.progress)
    progress = ProgressLog(len(records), label, interval=job.progress_interval)
    with bar, closing(_prefetched(prepare, records, job.workers, job.lookahead, job.processes)) as stream:
        for prepared in stream:
            progress.update(1)
            collector.add(prepared)
            bar.update(1)
        collector.flush()
    progress.finish()


def _write_outputs(out_features: Path, out_status: Path, collector: ShardCollector, records: list[dict], *,
                   modality: str, extractor: str, settings: dict, sequences: SequenceOutput | None = None) -> None:
    """Features first, then the sequences, the status table (the completion marker) last; none is left behind
    on failure."""
    status = collector.status(records)
    features = collector.features()
    try:
        write_feature_shard(
            out_features, features, collector.kept_ids, modality=modality, extractor=extractor, settings=settings
        )
        if sequences is not None:
            write_sequence_shard(sequences.path, collector.kept_sequences, collector.kept_ids, modality=modality,
                                 window_s=sequences.window_s, hop_s=sequences.hop_s, dim=collector.dim, extractor=extractor,
                                 settings={**settings, **sequences.settings})
        write_status_table(out_status, status)
    except BaseException:
        # outputs without a status table look unfinished already; remove them so reruns start clean
        out_features.unlink(missing_ok=True)
        if sequences is not None:
            Path(sequences.path).unlink(missing_ok=True)
        raise


def _run_shard(
    rows: pd.DataFrame,
    *,
    modality: str,
    prepare: Callable[[dict], Prepared],
    embed: Callable[[list], np.ndarray],
    out_features: str | os.PathLike,
    out_status: str | os.PathLike,
    batch_size: int,
    settings: dict,
    job: ExtractJobConfig,
    extractor: str,
    sequences: SequenceOutput | None = None,
) -> ShardSummary:
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    out_features, out_status = Path(out_features), Path(out_status)
    records = _records(rows)
    # the status table is the completion marker: drop it first so a stale one never vouches for new work
    for stale in (out_status, out_features, *([Path(sequences.path)] if sequences else [])):
        stale.unlink(missing_ok=True)
    started = time.perf_counter()
    collector = ShardCollector(embed, batch_size, dim=FEATURE_DIM, sequences=sequences is not None,
                               stage=MODEL_STAGES.get(modality, modality))
    _embed_all(records, prepare, collector, job, f"{modality} {out_features.name}")
    _write_outputs(out_features, out_status, collector, records, modality=modality, extractor=extractor,
                   settings=settings, sequences=sequences)
    return ShardSummary(
        out_features, out_status, n_ok=len(collector.kept_ids), n_skipped=len(records) - len(collector.kept_ids),
        dim=collector.dim, decode_seconds=collector.decode_seconds, model_seconds=collector.model_seconds,
        wall_seconds=time.perf_counter() - started, skipped={c: r for c, r in collector.reasons.items() if r},
    )
