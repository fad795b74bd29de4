"""The import step of `dataset: features` with a released folder: AudioSetZSL features in the authors' or
AVCA-GZSL's layout -> the run's shards, manifest and class table."""

from __future__ import annotations

import os
from pathlib import Path

from avgzsl.datasets.released import import_released


def import_released_step(*, root: str, out_text: str, out_manifest: str, out_classes: str) -> dict:
    # shards and text land in features/ (the rule's outputs); the manifest and class table one level up.
    # Unseen classes: AVCA-GZSL's class-split/unseen_class.txt, or AudioSetZSL's ten for the authors' layout.
    written = import_released(root, Path(out_text).parent)
    os.replace(written["manifest"], out_manifest)
    os.replace(written["classes"], out_classes)
    return written
