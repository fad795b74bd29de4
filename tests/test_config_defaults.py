"""One default per setting: the workflow's schema and the library's dataclasses agree wherever both name it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml
from avgzsl_extractors.audio_cnn import AudioCNNConfig
from avgzsl_extractors.audio_train import AudioTrainConfig
from avgzsl_extractors.decode import DecodeConfig
from avgzsl_extractors.logmel import LogMelConfig
from avgzsl_extractors.text import TextConfig
from avgzsl_extractors.video import VideoFeatureConfig

from avgzsl.datasets.demo import DemoConfig
from avgzsl.datasets.download import DownloadConfig

SCHEMA = yaml.safe_load((Path(__file__).resolve().parents[1] / "avgzsl/pipeline/config.schema.yaml").read_text())
SECTIONS = [("demo", DemoConfig), ("extract.decode", DecodeConfig), ("extract.logmel", LogMelConfig),
            ("extract.audio_cnn", AudioCNNConfig), ("extract.audio_train", AudioTrainConfig),
            ("extract.video", VideoFeatureConfig), ("extract.text", TextConfig)]
# the workflow resolves these itself: `auto` picks the dataset's word vectors (common.smk)
WORKFLOW_ONLY = {("extract.text", "source")}


def _schema_defaults(path: str) -> dict:
    node = SCHEMA
    for key in path.split("."):
        node = node["properties"][key]
    return {k: v["default"] for k, v in node["properties"].items() if "default" in v}


def _dataclass_defaults(cls) -> dict:
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


@pytest.mark.parametrize("path, cls", SECTIONS, ids=[p for p, _ in SECTIONS])
def test_schema_and_dataclass_defaults_agree(path, cls):
    schema, library = _schema_defaults(path), _dataclass_defaults(cls)
    shared = [k for k in schema if k in library and (path, k) not in WORKFLOW_ONLY]
    assert shared, f"{path}: no setting in common with {cls.__name__}"
    assert {k: schema[k] for k in shared} == {k: library[k] for k in shared}


def test_download_defaults_agree():
    schema, library = _schema_defaults("audiosetzsl"), DownloadConfig()
    assert schema["download_command"] == library.command
    assert schema["retries"] + 1 == library.attempts and schema["timeout"] == library.timeout_s
