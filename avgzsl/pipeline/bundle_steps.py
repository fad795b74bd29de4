"""The bundle step: one deep experiment's run packed for use on new clips (avgzsl.inference.bundle)."""

from __future__ import annotations

import logging

from avgzsl.inference.bundle import write_bundle

log = logging.getLogger("avgzsl.pipeline.bundle_steps")


def bundle_step(*, run: str, results: str, out: str, word_vectors: str | None = None,
                i3d_weights: str | None = None) -> None:
    """Bundle the seed folder `run` with the extraction settings its dataset's feature shards record."""
    write_bundle(run, out, results=results, word_vectors=word_vectors, i3d_weights=i3d_weights)
    log.info("bundled %s into %s", run, out)
