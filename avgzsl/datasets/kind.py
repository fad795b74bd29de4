"""What the workflow, the config check and the command line ask of a dataset, instead of comparing its name.

One `DatasetKind` object per kind of dataset (the demo, AudioSetZSL, a user's own clips, existing features,
each AVCA-GZSL benchmark) says:

- its inputs: the user's files the manifest is built from (`user_inputs`), the paths the config must name
  (`path_problems`), the files training reads (`training_files`);
- how it is ingested: from clips (`media`: rendered, downloaded or the user's files; then a manifest is
  built at parse time, `build_manifest`, and features are extracted shard by shard) or from features that
  exist already (`features_import`: none, a released-features folder, an AVCA-GZSL benchmark folder);
- its splits and protocol: whether its classes change roles between AVCA-GZSL's two stages (`two_stage`),
  and which word vectors `text.source: auto` means (`default_text_source`).

A new kind is a subclass in a module of its own plus one line in `avgzsl.datasets.registry`; the config
schema lists its name and its settings section.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pandas as pd

from avgzsl.formats.manifest import SPLITS, ClassTable

MEDIA_SOURCES = ("rendered", "downloaded", "files")
FEATURE_IMPORTS = ("released", "avca_benchmark")

# need(key, value, kind="file") / optional(...): the config check's way of recording a missing path
PathCheck = Callable[..., None]


@dataclass(frozen=True)
class DatasetKind:
    name: str
    media: str | None = None  # how a shard's clips come to exist; None: no clips, the features exist already
    media_rows_keep_labels: bool = False  # media jobs see each clip's class and split (the demo renders from them)
    may_download: bool = False  # manifest rows may name YouTube ids: the download template is used
    default_text_source: str = "glove-6b-50d"  # what `extract.text.source: auto` means
    two_stage: bool = False  # class roles differ between AVCA-GZSL's two stages (classes_stage1.tsv)

    def __post_init__(self) -> None:
        if self.media is not None and self.media not in MEDIA_SOURCES:
            raise ValueError(f"dataset kind {self.name}: media must be one of {MEDIA_SOURCES}, got {self.media!r}")

    @property
    def module(self) -> str:
        """Where this kind is written: a rule that calls into it counts that module as its code."""
        return type(self).__module__

    @property
    def extracts(self) -> bool:
        """Features are extracted from clips in the DAG (else training reads existing features)."""
        return self.media is not None

    def extracts_sequences(self, config: dict) -> bool:
        """The extraction jobs also write each clip's window sequences (`extract.features: temporal`)."""
        return self.extracts and config["extract"].get("features", "averaged") == "temporal"

    def missing_sequences(self, config: dict) -> str | None:
        """Why this run has no feature sequences for a temporal model (TCaF), or None when it has them."""
        if not self.extracts:
            return f"dataset {self.name} reads existing clip-level shards, which hold no window sequences"
        if not self.extracts_sequences(config):
            return "set extract.features: temporal to extract each clip's window sequences from its media"
        return None

    def settings(self, config: dict) -> dict:
        """This kind's own config section."""
        return config.get(self.name, {})

    def features_import(self, config: dict) -> str | None:
        """How existing features are brought in: one of FEATURE_IMPORTS, or None (extracted, or used in place)."""
        return None

    def result_dir(self, config: dict) -> str:
        """Every output of a run lives under here."""
        return f"{config['results']}/{self.name}"

    def media_root(self, config: dict) -> str:
        """Where rendered or downloaded clips go."""
        return f"{config['resources']}/{self.name}"

    def text_source(self, config: dict) -> str:
        """`extract.text.source` with `auto` resolved."""
        source = config["extract"]["text"]["source"]
        if source != "auto":
            return source
        if self.default_text_source == "word2vec":
            return f"{config['resources']}/word2vec/GoogleNews-vectors-negative300.bin"
        return self.default_text_source

    def build_manifest(self, settings: dict, *, resources: str) -> tuple[pd.DataFrame, ClassTable]:
        """The clip list and class table, cheap enough to build when the DAG is (kinds with media only)."""
        raise ValueError(f"dataset {self.name!r} has no manifest to build: its features exist already")

    def user_inputs(self, settings: dict, folder_files: Callable[[str], list[str]]) -> list[str]:
        """The user's files the manifest is built from (inputs of the manifest rule)."""
        return []

    def path_problems(self, config: dict, need: PathCheck, optional: PathCheck) -> list[tuple[str, str]]:
        """Paths the config must name for this kind; `need` / `optional` record missing ones by key."""
        return []

    def training_files(self, config: dict, result_dir: str, shards: list[str]) -> dict:
        """What training reads: manifest, classes, text and the audio and video shards (+ stage-1 classes, + the
        sequence shards the extraction jobs write with `extract.features: temporal`)."""
        R = result_dir
        files = {"manifest": f"{R}/manifest.csv", "classes": f"{R}/classes.tsv", "text": f"{R}/features/text.h5"}
        for modality in ("audio", "video"):
            if self.extracts:
                files[modality] = [f"{R}/features/{modality}/shard_{s}.h5" for s in shards]
            else:
                files[modality] = [f"{R}/features/{modality}/{s}.h5" for s in SPLITS]  # one shard per split
            if self.extracts_sequences(config):
                files[f"{modality}_seq"] = [f"{R}/features/{modality}_seq/shard_{s}.h5" for s in shards]
        if self.two_stage:
            files["classes_stage1"] = f"{R}/classes_stage1.tsv"
        return files
