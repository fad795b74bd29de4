"""What the `bundle`, `predict` and `search` commands run (their arguments: avgzsl.inference.arguments)."""

from __future__ import annotations

import argparse
import logging

from avgzsl.inference.bundle import open_bundle, write_bundle
from avgzsl.inference.clip_features import (
    MODALITIES,
    extract_clips,
    is_feature_shard,
    list_clips,
    read_feature_inputs,
)
from avgzsl.inference.ranking import (
    PREDICT_COLUMNS,
    SEARCH_COLUMNS,
    calibrate,
    name_vectors,
    parse_class_names,
    predict_rows,
    score,
    search_rows,
    write_rows,
)

log = logging.getLogger("avgzsl.inference")


def cmd_bundle(args: argparse.Namespace) -> int:
    out = write_bundle(args.run, args.out, results=args.results, word_vectors=args.word_vectors,
                       i3d_weights=args.i3d_weights)
    print(f"wrote the bundle {out}")
    return 0


def _needed(modality: str) -> tuple[str, ...]:
    return MODALITIES if modality == "both" else (modality,)


def clip_features(bundle, inputs: list[str], cfg, *, modality: str = "both", device: str = "cpu",
                  threads: int = 1, i3d_weights: str | None = None):
    """Features of the inputs: read from shards when every input is one, else extracted from the media."""
    dims = {"audio": cfg.model.audio_dim, "video": cfg.model.video_dim}
    shards = [p for p in inputs if is_feature_shard(p)]
    if shards and len(shards) == len(inputs):
        return read_feature_inputs(shards, dims)
    if shards:
        raise ValueError(f"give either feature shards or clips, not both (shards: {shards[:3]})")
    clips = list_clips(inputs)
    log.info("%d clip(s) to extract", len(clips))
    return extract_clips(bundle, clips, modalities=_needed(modality), dims=dims, device=device,
                         threads=threads, i3d_weights=i3d_weights)


def predict_labels(bundle, model, cfg, inputs: list[str], names: list[str], text, *, modality: str = "both",
                   top_k: int | None = None, calibrated: bool = False, device: str = "cpu", threads: int = 1,
                   i3d_weights: str | None = None) -> list[dict]:
    """`predict`'s rows (PREDICT_COLUMNS) for the inputs, ranking `names` (vectors `text`) with the loaded
    `model` of `bundle`: the one path from clips to labels, for `predict` and the page of `serve`."""
    clips = clip_features(bundle, inputs, cfg, modality=modality, device=device, threads=threads,
                          i3d_weights=i3d_weights)
    distances = score(bundle, model, clips, names, text, device=device)
    if calibrated:
        distances = calibrate(bundle, distances, names)
    return predict_rows(clips, names, distances, modality=modality, top_k=top_k)


def cmd_predict(args: argparse.Namespace) -> int:
    bundle = open_bundle(args.bundle)
    names = parse_class_names(args.classes)
    text = name_vectors(bundle, names, args.word_vectors)  # a name without a vector fails before extraction
    model, cfg = bundle.load_model(args.device)
    rows = predict_labels(bundle, model, cfg, args.clips, names, text, modality=args.modality, top_k=args.top_k,
                          calibrated=args.calibrated, device=args.device, threads=args.threads,
                          i3d_weights=args.i3d_weights)
    write_rows(rows, PREDICT_COLUMNS, args.out)
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    bundle = open_bundle(args.bundle)
    queries = args.query
    text = name_vectors(bundle, queries, args.word_vectors)
    model, cfg = bundle.load_model(args.device)
    clips = clip_features(bundle, args.inputs, cfg, modality=args.modality, device=args.device,
                          threads=args.threads, i3d_weights=args.i3d_weights)
    distances = score(bundle, model, clips, queries, text, device=args.device)
    write_rows(search_rows(clips, queries, distances, modality=args.modality, top_k=args.top_k), SEARCH_COLUMNS,
               args.out)
    return 0
