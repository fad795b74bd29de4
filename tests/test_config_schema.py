"""The workflow schema's defaults are the extractors' own defaults, and every key is described."""

import dataclasses
from pathlib import Path

import pytest
import yaml
from avgzsl_extractors.audio_cnn import AudioCNNConfig
from avgzsl_extractors.audio_train import AudioTrainConfig
from avgzsl_extractors.decode import DecodeConfig
from avgzsl_extractors.logmel import LogMelConfig
from avgzsl_extractors.video import VideoFeatureConfig

SCHEMA = yaml.safe_load((Path(__file__).resolve().parents[1] / "avgzsl/pipeline/config.schema.yaml").read_text())
EXTRACT = SCHEMA["properties"]["extract"]["properties"]


def _defaults(cls):
    return {f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())
            for f in dataclasses.fields(cls)
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING}


@pytest.mark.parametrize("section,cls", [("decode", DecodeConfig), ("logmel", LogMelConfig),
                                         ("audio_cnn", AudioCNNConfig), ("audio_train", AudioTrainConfig),
                                         ("video", VideoFeatureConfig)])
def test_schema_defaults_match_dataclasses(section, cls):
    defaults = _defaults(cls)
    for key, spec in EXTRACT[section]["properties"].items():
        if key in defaults:
            expected = defaults[key]
            expected = list(expected) if isinstance(expected, tuple) else expected
            assert spec["default"] == expected, f"extract.{section}.{key}"


def _walk(node, path=""):
    for key, spec in node.get("properties", {}).items():
        yield f"{path}{key}", spec
        yield from _walk(spec, f"{path}{key}.")


def test_every_key_has_a_default_and_a_description():
    for key, spec in _walk(SCHEMA):
        if spec.get("type") == "object" and "properties" in spec:
            continue  # sections: their keys carry the descriptions
        assert "description" in spec, key
        if not key.startswith("experiments"):
            assert "default" in spec, key


@pytest.mark.parametrize("section", ["training", "experiments"])
@pytest.mark.parametrize("value,ok", [("exclude", True), ("other_modality", True), ("drop", False)])
def test_missing_modality_policy_is_validated(section, value, ok):
    import jsonschema

    config = ({"training": {"train": {"missing_modality": value}}} if section == "training"
              else {"experiments": {"x": {"train": {"missing_modality": value}}}})
    errors = list(jsonschema.Draft7Validator(SCHEMA).iter_errors(config))
    assert (not errors) == ok, errors
