"""The import step of an AVCA-GZSL benchmark: their released folder -> the run's shards, manifest, class
tables (both stages) and a record of what was imported."""

from __future__ import annotations

import os
from pathlib import Path

from avgzsl.datasets.avca_import import PINNED, AvcaBenchmarkConfig, import_avca_benchmark
from avgzsl.datasets.tcaf_import import import_tcaf_benchmark

MOVED_UP = ("manifest.csv", "classes.tsv", "classes_stage1.tsv", "avca_benchmark.json")


def import_benchmark_step(*, dataset: str, settings: dict, out_text: str, out_manifest: str) -> dict:
    cfg = AvcaBenchmarkConfig(
        benchmark=dataset,
        variant=settings["variant"],
        text_lookup=settings["text_lookup"],
        split_dir=None if settings["split_lists"] == "pinned" else settings["split_lists"],
        digest=PINNED if settings["verify_split_lists"] else None,
    )
    # shards and text land in features/ (the rule's outputs); manifest, class tables and record one level up
    features = Path(out_text).parent
    temporal = settings.get("features", "averaged") == "temporal"  # TCaF's release: + sequence shards
    written = (import_tcaf_benchmark if temporal else import_avca_benchmark)(settings["root"], features, cfg)
    for name in MOVED_UP:
        os.replace(features / name, Path(out_manifest).parent / name)
    print(f"imported {written['benchmark']} ({written['variant']}, text {written['text_lookup']}): "
          f"clips {written['clips']}, AVCA lookup mismatches {written['avca_text_mismatch']}")
    return written
