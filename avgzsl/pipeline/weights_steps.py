"""The I3D weights step: DeepMind's Kinetics-400 weights converted once into the run's resources."""

from __future__ import annotations

import logging

from avgzsl_extractors.i3d_weights import write_kinetics400_weights

log = logging.getLogger("avgzsl")


def i3d_weights_step(*, source: str, out_weights: str, out_sha256: str) -> str:
    digest = write_kinetics400_weights(out_weights, out_sha256)
    log.info("Kinetics-400 I3D weights (%s): sha256 %s", source, digest)
    return digest
