"""The text step: one word vector per class of the run's class table."""

from __future__ import annotations

from avgzsl_extractors.text import TextConfig, write_text_features

from avgzsl.formats.manifest import ClassTable


def text_features_step(*, classes: str, settings: dict, out: str) -> None:
    write_text_features(ClassTable.read(classes).names, out, TextConfig(**settings))
