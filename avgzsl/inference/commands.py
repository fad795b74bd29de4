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


def _clip_features(bundle, inputs: list[str], args: argparse.Namespace, cfg):
    """Features of the inputs: read from shards when every input is one, else extracted from the media."""
    dims = {"audio": cfg.model.audio_dim, "video": cfg.model.video_dim}
    shards = [p for p in inputs if is_feature_shard(p)]
    if shards and len(shards) == len(inputs):
        return read_feature_inputs(shards, dims)
    if shards:
        raise ValueError(f"give either feature shards or clips, not both (shards: {shards[:3]})")
    clips = list_clips(inputs)
    log.info("%d clip(s) to extract", len(clips))
    return extract_clips(bundle, clips, modalities=_needed(args.modality), dims=dims, device=args.device,
                         threads=args.threads, i3d_weights=args.i3d_weights)


def cmd_predict(args: argparse.Namespace) -> int:
    bundle = open_bundle(args.bundle)
    names = parse_class_names(args.classes)
    text = name_vectors(bundle, names, args.word_vectors)  # a name without a vector fails before extraction
    model, cfg = bundle.load_model(args.device)
    clips = _clip_features(bundle, args.clips, args, cfg)
    distances = score(bundle, model, clips, names, text, device=args.device)
    if args.calibrated:
        distances = calibrate(bundle, distances, names)
    rows = predict_rows(clips, names, distances, modality=args.modality, top_k=args.top_k)
    write_rows(rows, PREDICT_COLUMNS, args.out)
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    bundle = open_bundle(args.bundle)
    queries = args.query
    text = name_vectors(bundle, queries, args.word_vectors)
    model, cfg = bundle.load_model(args.device)
    clips = _clip_features(bundle, args.inputs, args, cfg)
    distances = score(bundle, model, clips, queries, text, device=args.device)
    write_rows(search_rows(clips, queries, distances, modality=args.modality, top_k=args.top_k), SEARCH_COLUMNS,
               args.out)
    return 0
