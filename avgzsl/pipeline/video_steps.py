"""The video extraction step of the workflow: one shard's clips through Kinetics I3D.

The weights arrive as a file the workflow tracks (the converted Kinetics-400 state dict written by the
`i3d_weights` rule, or the user's own checkpoint), with its checksum, which every shard records.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from avgzsl_extractors.extract import extract_video_shard
from avgzsl_extractors.i3d import create_i3d
from avgzsl_extractors.i3d_weights import read_sha256_file, sha256_of
from avgzsl_extractors.shard_collector import SequenceOutput
from avgzsl_extractors.video import VideoFeatureConfig, video_features, window_starts

from avgzsl.formats.media_tables import read_media_table
from avgzsl.pipeline.extraction_steps import decode_config, extraction_job, finish_status, split_by_media
from avgzsl.runtime.device import resolve_device, set_torch_threads

log = logging.getLogger("avgzsl.extract")


def extract_video_step(*, media: str, weights_file: str, decode: dict, video: dict, device: str, threads: int,
                       out_features: str, out_status: str, weights_sha256: str | None = None,
                       weights_sha256_file: str | None = None, autocast: str = "none",
                       out_sequences: str | None = None) -> None:
    """Extract one shard; `weights_sha256` (the checksum the weights rule recorded, or the file it wrote it to)
    is verified first. With `out_sequences`, the same I3D pass also writes each clip's window features there
    (the windows its clip feature averages: `video.window_frames` every `video.window_stride` frames)."""
    if weights_sha256_file is not None:
        weights_sha256 = read_sha256_file(weights_sha256_file)
    digest = sha256_of(weights_file)
    if weights_sha256 is not None and digest != weights_sha256:
        raise ValueError(f"{weights_file}: sha256 {digest} does not match the recorded {weights_sha256}; "
                         "re-run the i3d_weights rule")
    set_torch_threads(threads)
    dev = resolve_device(device)
    table = read_media_table(media)
    usable, lost = split_by_media(table)
    video = dict(video)
    weights, batch_clips = video.pop("weights"), video.pop("batch_clips", 4)
    vcfg = VideoFeatureConfig(**video, autocast=autocast)
    # decode straight to the rate and (roughly) the size I3D will see
    decode_cfg = decode_config(decode, fps=vcfg.fps, short_side=vcfg.resize_short_side)
    if dev.type == "cuda":
        # all windows of a model call's clips in one I3D pass (4 per 10 s clip at 25 fps): a GPU needs the
        # larger batch to stay busy; on a CPU the small default bounds memory and costs no speed
        windows = len(window_starts(round(decode_cfg.max_seconds * vcfg.fps), vcfg))
        vcfg = dataclasses.replace(vcfg, batch_windows=max(vcfg.batch_windows, windows * batch_clips))
    model = create_i3d(weights=Path(weights_file)).to(dev).eval()
    tmp_status = Path(out_status).with_name(f".{Path(out_status).name}.partial")
    name = weights if weights == "kinetics400" else Path(weights).name
    sequences = None if out_sequences is None else SequenceOutput(
        out_sequences, window_s=vcfg.window_frames / vcfg.fps, hop_s=vcfg.window_stride / vcfg.fps)
    def embed_fn(frames):
        if sequences is None:
            return video_features(model, frames, vcfg, dev)
        return video_features(model, frames, vcfg, dev, sequences=True)  # (features, window sequences)

    summary = extract_video_shard(
        usable, out_features=out_features, out_status=tmp_status, embed_fn=embed_fn,
        decode_cfg=decode_cfg, batch_size=batch_clips,
        settings={"weights": name, "weights_sha256": digest, **video, "autocast": autocast},
        job=extraction_job(threads, dev), sequences=sequences,
    )
    finish_status(tmp_status, lost, table, out_status)
    log.info("video shard: %d ok, %d skipped, %d lost before extraction; decode %.1fs model %.1fs",
             summary.n_ok, summary.n_skipped, len(lost), summary.decode_seconds, summary.model_seconds)
