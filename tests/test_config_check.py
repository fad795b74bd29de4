"""Every bad config value stops the run before any job, with its key named (schema + avgzsl.pipeline.config_check)."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate
from workflow_helpers import REPO, copy_repo, snakemake

from avgzsl.baselines import BASELINES
from avgzsl.evaluation import metrics
from avgzsl.pipeline import config_check
from avgzsl.pipeline.config_check import (
    DOWNLOAD_FIELDS,
    OFFLINE_TEXT_SOURCES,
    ConfigError,
    check_config,
    check_experiment_sections,
)
from avgzsl.settings.experiment import DISTANCES, MODEL_KINDS, PROTOCOLS, LossConfig, ModelConfig, TrainConfig

SCHEMA_PATH = REPO / "avgzsl" / "pipeline" / "config.schema.yaml"
SCHEMA = yaml.safe_load(SCHEMA_PATH.read_text())
TINY = yaml.safe_load((REPO / "tests" / "configs" / "tiny.yaml").read_text())


def _merge(base: dict, patch: dict) -> dict:
    """Deep merge; an empty dict in the patch replaces (so `experiments: {}` stays empty)."""
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and value and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _fill(value, tmp: Path):
    """'@name' strings become paths under tmp (files the fixture made, or missing ones)."""
    if isinstance(value, dict):
        return {k: _fill(v, tmp) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, tmp) for v in value]
    return str(tmp / value[1:]) if isinstance(value, str) and value.startswith("@") else value


def problems(config: dict) -> list[tuple[str, str]]:
    """What the workflow refuses in this config ([] when accepted): common.smk's check, then its validate."""
    try:
        filled = check_config(config, schema=SCHEMA_PATH)
    except ConfigError as err:
        return err.problems
    raw = copy.deepcopy(config)
    validate(raw, schema=str(SCHEMA_PATH))  # snakemake's own validation agrees and fills the same defaults
    assert raw == filled
    return []


def names_key(problems: list[tuple[str, str]], key: str) -> bool:
    """A problem is reported under this key (a training default as `training.x.y (in <experiment>)`)."""
    return any(k == key or k.startswith(f"{key} (in ") for k, _ in problems)


@pytest.fixture
def files(tmp_path):
    for name in ("manifest.csv", "classes.tsv", "text.h5", "audio.h5", "video.h5", "vectors.txt", "i3d.pt"):
        (tmp_path / name).write_text("x\n")
    (tmp_path / "released").mkdir()
    return tmp_path


CUSTOM = {"dataset": "custom", "custom": {"manifest": "@manifest.csv", "classes": "@classes.tsv"}}
OWN_FEATURES = {"dataset": "features", "features": {
    "manifest": "@manifest.csv", "classes": "@classes.tsv", "text": "@text.h5", "audio": ["@audio.h5"],
    "video": ["@video.h5"]}}

BAD = [
    # types: the cases first
    ({"training": {"train": {"lr": "fast"}}}, "training.train.lr"),
    ({"training": {"train": {"lr": "1e-3"}}}, "training.train.lr"),  # YAML 1.1 reads 1e-3 as a string
    ({"training": {"train": {"epochs": 2.5}}}, "training.train.epochs"),
    ({"training": {"train": {"epochs": 2.0}}}, "training.train.epochs"),  # JSON schema calls 2.0 an integer
    ({"training": {"train": {"milestones": "50"}}}, "training.train.milestones"),
    ({"training": {"train": {"milestones": [150, 100]}}}, "training.train.milestones"),
    ({"training": {"train": {"milestones": [0, 10]}}}, "training.train.milestones[0]"),
    ({"training": {"train": {"batch_size": 0}}}, "training.train.batch_size"),
    ({"training": {"train": {"momentum": 1.5}}}, "training.train.momentum"),
    ({"training": {"train": {"gamma": 0}}}, "training.train.gamma"),
    ({"training": {"train": {"num_threads": 0}}}, "training.train.num_threads"),
    ({"training": {"train": {"protocol": "AVCA"}}}, "training.train.protocol"),
    ({"training": {"model": {"dropout": 1.0}}}, "training.model.dropout"),
    ({"training": {"model": {"hidden_dim": -4}}}, "training.model.hidden_dim"),
    ({"training": {"loss": {"distance": "cosine"}}}, "training.loss.distance"),
    ({"training": {"loss": {"margin": -1}}}, "training.loss.margin"),
    ({"training": {"seeds": [0, 0]}}, "training.seeds"),
    ({"training": {"seeds": [0, 0.5]}}, "training.seeds[1]"),
    ({"training": {"preset": "offical"}}, "training.preset"),
    ({"training": {"seeds": [-1]}}, "training.seeds[0]"),  # numpy refuses negative seeds
    ({"experiments": {"x": {"seeds": [2**32]}}}, "experiments.x.seeds[0]"),
    ({"extract": {"audio_train": {"seed": -3}}}, "extract.audio_train.seed"),
    ({"extract": {"audio_train": {"epochs": 2.5}}}, "extract.audio_train.epochs"),
    ({"extract": {"audio_train": {"epochs": 3.0}}}, "extract.audio_train.epochs"),
    ({"extract": {"audio_train": {"batch_size": 0}}}, "extract.audio_train.batch_size"),
    ({"extract": {"audio_train": {"seed": 1.0}}}, "extract.audio_train.seed"),
    ({"extract": {"audio_train": {"lr": 0}}}, "extract.audio_train.lr"),
    ({"extract": {"audio_cnn": {"dropout": 1.5}}}, "extract.audio_cnn.dropout"),
    ({"extract": {"audio_cnn": {"pool_after": [0, 9]}}}, "extract.audio_cnn.pool_after"),
    ({"extract": {"audio_cnn": {"pool_after": [1, 1]}}}, "extract.audio_cnn.pool_after"),
    ({"extract": {"video": {"batch_clips": 0}}}, "extract.video.batch_clips"),
    ({"extract": {"text": {"sha256": "abc"}}}, "extract.text.sha256"),
    ({"shard_size": 2.0}, "shard_size"),
    ({"shard_size": 0}, "shard_size"),
    ({"demo": {"seed": 0.5}}, "demo.seed"),
    ({"demo": {"size": 0}}, "demo.size"),
    ({"device": "gpu0"}, "device"),
    ({"results": ""}, "results"),
    # unknown keys anywhere
    ({"shard_szie": 3}, "shard_szie"),
    ({"extract": {"video": {"weight": "kinetics400"}}}, "extract.video.weight"),
    ({"training": {"train": {"epoch": 5}}}, "training.train.epoch"),
    ({"experiments": {"x": {"model": {"kinds": "cjme"}}}}, "experiments.x.model.kinds"),
    ({"experiments": {"x": {"loss": {"rek": False}}}}, "experiments.x.loss.rek"),
    ({"experiments": {"x": {"train": {"seed": 3}}}}, "experiments.x.train.seed"),  # use seeds
    ({"experiments": {"x": {"model": {"text_dim": 50}}}}, "experiments.x.model.text_dim"),  # from the shards
    ({"experiments": {"x": {"seed": [1]}}}, "experiments.x.seed"),
    # experiments and baselines
    ({"experiments": {}}, "experiments"),
    ({"experiments": {"avgzslnet": None}}, "experiments.avgzslnet"),  # `avgzslnet:` with nothing after it
    ({"experiments": {"e": {"baseline": "eszsl", "options": {"gama": 1.0}}}}, "experiments.e.options.gama"),
    ({"experiments": {"e": {"baseline": "ale", "options": {"epochs": 0}}}}, "experiments.e.options.epochs"),
    ({"experiments": {"e": {"baseline": "ale", "options": {"epochs": 1.5}}}}, "experiments.e.options.epochs"),
    ({"experiments": {"e": {"baseline": "devise", "options": {"learning_rate": "fast"}}}},
     "experiments.e.options.learning_rate"),
    ({"experiments": {"e": {"baseline": "gcca", "options": {"metric": "manhattan"}}}}, "experiments.e.options"),
    ({"experiments": {"e": {"baseline": "pretrained", "options": {"dimension_match": "pad"}}}},
     "experiments.e.options"),
    ({"experiments": {"e": {"baseline": "sae", "seeds": [0, 1]}}}, "experiments.e.seeds"),
    ({"experiments": {"e": {"baseline": "conse", "train": {"epochs": 3}}}}, "experiments.e.train"),
    ({"experiments": {"e": {"baseline": "svm"}}}, "experiments.e.baseline"),
    ({"experiments": {"x": {"options": {"gamma": 1.0}}}}, "experiments.x.options"),
    ({"experiments": {"x": {"model": {"kind": "audio_only", "attention": True}}}}, "experiments.x.model.attention"),
    ({"experiments": {"x": {"loss": {t: False for t in ("rec", "cta", "ctv", "ta", "at", "tv", "vt")}}}},
     "experiments.x.loss.rec"),
    ({"training": {"model": {"attention": True}}, "experiments": {"x": {"model": {"kind": "video_only"}}}},
     "training.model.attention"),
    # required paths per dataset
    ({"dataset": "features"}, "features"),
    ({"dataset": "features", "features": {"manifest": "@manifest.csv"}}, "features.classes"),
    (_merge(OWN_FEATURES, {"features": {"audio": []}}), "features.audio"),
    (_merge(OWN_FEATURES, {"features": {"video": ["@video.h5", "@missing.h5"]}}), "features.video[1]"),
    (_merge(OWN_FEATURES, {"features": {"text": "@missing.h5"}}), "features.text"),
    (_merge(OWN_FEATURES, {"features": {"released_root": "@released"}}), "features.manifest"),
    ({"dataset": "features", "features": {"released_root": "@nowhere"}}, "features.released_root"),
    ({"dataset": "ucf-gzsl"}, "avca_gzsl.root"),
    ({"dataset": "vggsound-gzsl", "avca_gzsl": {"root": "@nowhere"}}, "avca_gzsl.root"),
    ({"dataset": "activitynet-gzsl", "avca_gzsl": {"root": "@released", "split_lists": "@no-lists"}},
     "avca_gzsl.split_lists"),
    ({"dataset": "ucf-gzsl", "avca_gzsl": {"root": "@released", "variant": "selavi"}}, "avca_gzsl.variant"),
    ({"dataset": "ucf-gzsl", "avca_gzsl": {"root": "@released", "text_lookup": "sorted"}}, "avca_gzsl.text_lookup"),
    ({"dataset": "custom"}, "custom.manifest"),
    (_merge(CUSTOM, {"custom": {"classes": ""}}), "custom.classes"),
    (_merge(CUSTOM, {"custom": {"manifest": "@missing.csv"}}), "custom.manifest"),
    (_merge(CUSTOM, {"custom": {"unseen": "@missing.txt"}}), "custom.unseen"),
    (_merge(CUSTOM, {"custom": {"media_root": "@manifest.csv"}}), "custom.media_root"),  # a file, not a folder
    ({"dataset": "audiosetzsl", "audiosetzsl": {"split_lists": "@no-lists"}}, "audiosetzsl.split_lists"),
    (_merge(CUSTOM, {"audiosetzsl": {"download_command": "fetch {youtube_id}"}}), "audiosetzsl.download_command"),
    (_merge(CUSTOM, {"audiosetzsl": {"download_command": "fetch {youtube_id} -o {output}"}}),
     "audiosetzsl.download_command"),
    (_merge(CUSTOM, {"audiosetzsl": {"download_command": "fetch {id} -o {out}"}}), "audiosetzsl.download_command"),
    # an id as an argument of its own: "-o x" or "--exec ..." would reach the downloader as options
    (_merge(CUSTOM, {"audiosetzsl": {"download_command": "fetch -o {out} {youtube_id}"}}),
     "audiosetzsl.download_command"),
    (_merge(CUSTOM, {"audiosetzsl": {"download_command": "fetch -o {out} {clip_id}.mp4"}}),
     "audiosetzsl.download_command"),
    (_merge(CUSTOM, {"audiosetzsl": {"download_command": "fetch {youtube_id -o {out}"}}),
     "audiosetzsl.download_command"),
    # word vectors, I3D weights and cross-field rules
    ({"extract": {"text": {"source": "glove-6b-5Od"}}}, "extract.text.source"),
    ({"extract": {"text": {"source": "@missing.bin"}}}, "extract.text.source"),
    ({"dataset": "audiosetzsl", "audiosetzsl": {"split_lists": "@released"}, "resources": "@res"},
     "extract.text.source"),  # auto: GoogleNews under <resources>/word2vec/, which is missing
    ({"extract": {"video": {"weights": "@missing.pt"}}}, "extract.video.weights"),
    ({"extract": {"video": {"weights": "kinetics600"}}}, "extract.video.weights"),
    ({"extract": {"video": {"crop_size": 128, "resize_short_side": 112}}}, "extract.video.crop_size"),
    ({"extract": {"logmel": {"fmax": 9000}}}, "extract.logmel.fmax"),
    ({"extract": {"decode": {"sample_rate": 8000}}}, "extract.logmel.fmax"),  # default fmax 7500 > 4000
    ({"extract": {"logmel": {"fmin": 8000, "fmax": 7000}}}, "extract.logmel.fmin"),
    # temporal features: audio windows of whole CNN columns (0.16 s here), and tcaf only where sequences exist
    ({"extract": {"features": "temporal", "temporal": {"audio_window_s": 0.5}}}, "extract.temporal.audio_window_s"),
    ({"extract": {"features": "temporal", "temporal": {"audio_hop_s": 0.1}}}, "extract.temporal.audio_hop_s"),
    ({"extract": {"features": "sequences"}}, "extract.features"),
    ({"experiments": {"t": {"preset": "tcaf-ucf-cls", "model": {"kind": "tcaf"}}}}, "experiments.t.model.kind"),
    (_merge(OWN_FEATURES, {"experiments": {"t": {"preset": "tcaf-ucf-cls", "model": {"kind": "tcaf"}}}}),
     "experiments.t.model.kind"),
    ({"dataset": "ucf-gzsl", "avca_gzsl": {"root": "@released"},
      "training": {"model": {"kind": "tcaf"}, "preset": "tcaf-ucf-cls"}}, "training.model.kind"),
]


@pytest.mark.parametrize("patch,key", BAD, ids=[f"{i}-{key}" for i, (_, key) in enumerate(BAD)])
def test_bad_value_is_refused_naming_its_key(files, patch, key):
    found = problems(_merge(TINY, _fill(patch, files)))
    assert found, f"accepted: {patch}"
    assert names_key(found, key), found


GOOD = [
    {},
    CUSTOM,
    _merge(CUSTOM, {"custom": {"media_root": "@released"}}),
    OWN_FEATURES,
    {"dataset": "features", "features": {"released_root": "@released"}},
    {"extract": {"text": {"source": "@vectors.txt"}, "video": {"weights": "@i3d.pt"}}},
    {"extract": {"text": {"source": "glove-6b-50d", "sha256": "ab" * 32}}},
    {"training": {"train": {"milestones": [], "num_threads": None, "lr": 1}}},
    {"experiments": {"e": {"baseline": "gcca", "options": {"n_components": None, "metric": "cosine"}}}},
    {"experiments": {"x": {"model": {"kind": "cjme", "attention": True}, "preset": "paper", "seeds": [3]}}},
    {"extract": {"logmel": {"fmax": 8000}}},  # exactly Nyquist
    _merge(CUSTOM, {"audiosetzsl": {"download_command": "touch {out}"}}),
    {"dataset": "features", "features": {"released_root": "@released"}, "extract": {"text": {"source": "nope"}}},
    {"dataset": "ucf-gzsl", "avca_gzsl": {"root": "@released"}, "extract": {"text": {"source": "nope"}}},
    {"dataset": "vggsound-gzsl", "avca_gzsl": {"root": "@released", "split_lists": "@released", "variant": "cls",
                                               "text_lookup": "avca_compat", "verify_split_lists": False}},
    {"extract": {"features": "temporal", "temporal": {"audio_window_s": 0.32, "audio_hop_s": 0.16}},
     "experiments": {"t": {"preset": "tcaf-ucf-cls", "model": {"kind": "tcaf"}}, "a": {}}},
    {"dataset": "ucf-gzsl", "avca_gzsl": {"root": "@released", "features": "temporal"},
     "experiments": {"t": {"preset": "tcaf-ucf-cls", "model": {"kind": "tcaf"}}}},
]


def test_tcaf_without_sequences_is_one_line_saying_what_to_set():
    with pytest.raises(ConfigError) as err:
        check_config(_merge(TINY, {"experiments": {"t": {"preset": "tcaf-ucf-cls", "model": {"kind": "tcaf"}}}}),
                     schema=SCHEMA_PATH)
    assert err.value.keys == ["experiments.t.model.kind"]
    assert "\n" not in str(err.value) and "extract.features: temporal" in str(err.value)


@pytest.mark.parametrize("patch", GOOD)
def test_good_config_is_accepted(files, patch):
    assert problems(_merge(TINY, _fill(patch, files))) == []


def test_every_problem_is_reported_at_once():
    bad = _merge(TINY, {"extract": {"video": {"crop_size": 128, "resize_short_side": 112}, "logmel": {"fmax": 9000}},
                        "experiments": {"e": {"baseline": "ale", "options": {"epoch": 3}}}})
    with pytest.raises(ConfigError) as err:
        check_config(bad, schema=SCHEMA_PATH)
    assert err.value.keys == ["extract.logmel.fmax", "extract.video.crop_size", "experiments.e.options.epoch"]
    schema_bad = _merge(TINY, {"shard_size": 0, "training": {"train": {"lr": "fast", "epoch": 3}}})
    with pytest.raises(ConfigError) as err:
        check_config(schema_bad, schema=SCHEMA_PATH)
    assert sorted(err.value.keys) == ["shard_size", "training.train.epoch", "training.train.lr"]


@pytest.mark.parametrize("path", sorted({REPO / "config" / "config.yaml", REPO / "tests" / "configs" / "tiny.yaml",
                                         *(REPO / "config").glob("*.yaml")}), ids=lambda p: p.name)
def test_shipped_configs_are_valid(path, monkeypatch):
    monkeypatch.chdir(REPO)  # the workflow's working directory
    config = yaml.safe_load(path.read_text())
    try:
        check_config(config, schema=SCHEMA_PATH)
    except ConfigError as err:
        # examples of your own data may point at files you have not made yet; nothing else may be wrong
        example = path.name not in ("config.yaml", "tiny.yaml")
        assert example and all("not found" in problem for _, problem in err.problems), str(err)


# ---- the schema's experiment sections are the dataclasses' fields ----------------------------------

WORKFLOW_OWNED = {"model": {"audio_dim", "video_dim", "text_dim"}, "train": {"seed", "device"}, "loss": set()}
JSON_TYPES = {"int": "integer", "float": "number", "bool": "boolean", "str": "string", "list[int]": "array",
              "int | None": ["integer", "null"], "dict": "object"}  # the dataclasses' annotations, as text (postponed evaluation)


@pytest.mark.parametrize("section,cls", [("model", ModelConfig), ("loss", LossConfig), ("train", TrainConfig)])
def test_schema_sections_match_the_dataclasses(section, cls):
    spec = SCHEMA["$defs"][section]
    assert spec["additionalProperties"] is False
    fields = {f.name: f.type for f in dataclasses.fields(cls)}
    assert set(spec["properties"]) == set(fields) - WORKFLOW_OWNED[section]
    for key, prop in spec["properties"].items():
        assert prop["type"] == JSON_TYPES[fields[key]], key
        assert "default" not in prop, f"{key}: a schema default would override the preset"
        assert prop.get("description"), key
    enums = {"kind": MODEL_KINDS, "distance": DISTANCES, "protocol": PROTOCOLS,
             "missing_modality": metrics.MISSING_MODALITY}
    for key, values in enums.items():
        if key in spec["properties"]:
            prop = spec["properties"][key]
            enum = prop["enum"] if "enum" in prop else next(a["enum"] for a in prop["anyOf"] if "enum" in a)
            assert tuple(enum) == values


def test_schema_baselines_and_text_names_match_the_code():
    from avgzsl_extractors.text import GLOVE_6B_50D

    from avgzsl.datasets.download import DownloadConfig, build_command

    entry = SCHEMA["properties"]["experiments"]["additionalProperties"]["properties"]
    enum = next(a["enum"] for a in entry["baseline"]["anyOf"] if "enum" in a)
    assert set(enum) == set(BASELINES)
    assert GLOVE_6B_50D in OFFLINE_TEXT_SOURCES
    assert config_check.MISSING_MODALITY == metrics.MISSING_MODALITY
    template = " -- ".join("{" + f + "}" for f in DOWNLOAD_FIELDS)  # ids after "--": never read as options
    assert build_command(DownloadConfig(command=template), youtube_id="abcdefghijk", start=1, end=2, out=Path("o"),
                         clip_id="c")


# the schema (workflow) and config_check.RULES (command line) must draw the same line
SECTION_VALUES = [
    ("model", "dropout", 1.0, False), ("model", "dropout", 0.0, True), ("model", "hidden_dim", 0, False),
    ("model", "kind", "cnn", False), ("loss", "margin", -0.5, False), ("loss", "margin", 0, True),
    ("loss", "distance", "cosine", False), ("train", "epochs", 0, False), ("train", "epochs", 2.0, False),
    ("train", "batch_size", 0, False), ("train", "lr", 0, False), ("train", "lr", 1e-9, True),
    ("train", "lr", "fast", False), ("train", "momentum", 1.0, False), ("train", "momentum", 0, True),
    ("train", "gamma", 0, False), ("train", "gamma", 1, True), ("train", "gamma", 1.5, False),
    ("train", "milestones", [0], False), ("train", "milestones", [], True), ("train", "milestones", [5, 5], False),
    ("train", "num_threads", 0, False), ("train", "num_threads", None, True),
    ("train", "protocol", "avca", True), ("train", "select_modality", "text", False),
    ("loss", "eps", -1e-6, False), ("loss", "eps", 0, True), ("train", "missing_modality", "drop", False),
    ("train", "missing_modality", "other_modality", True),
]


@pytest.mark.parametrize("section,key,value,ok", SECTION_VALUES)
def test_workflow_and_command_line_agree(section, key, value, ok):
    workflow = problems(_merge(TINY, {"training": {section: {key: value}}}))
    try:
        check_experiment_sections({section: {key: value}})
        cli = []
    except ConfigError as err:
        cli = err.problems
    assert (workflow == []) == ok and (cli == []) == ok, (workflow, cli)


# ---- the command line ----------------------------------------------------------------------------

CLI_BAD = [
    (["train.epochs=2.5"], "train.epochs"),
    (["train.lr=fast"], "train.lr"),
    (["train.milestones=50"], "train.milestones"),
    (["model.dropout=1"], "model.dropout"),
    (["loss.distance=cosine"], "loss.distance"),
    (["model.kind=audio_only", "model.attention=true"], "model.attention"),
    (["train.epoch=3"], "train.epoch"),
    (["train.seed=-1"], "train.seed"),
]


@pytest.mark.parametrize("pairs,key", CLI_BAD)
def test_cli_set_is_checked_naming_the_key(pairs, key):
    sections = {"model": {}, "loss": {}, "train": {}}
    for pair in pairs:
        name, value = pair.split("=")
        section, field = name.split(".")
        sections[section][field] = yaml.safe_load(value)
    with pytest.raises(ConfigError) as err:
        check_experiment_sections(sections)
    assert key in err.value.keys


def test_cli_train_stops_before_reading_data(tmp_path, capsys):
    from avgzsl.cli import main

    dummy = tmp_path / "not-a-shard.h5"
    dummy.write_text("x")
    code = main(["train", "--manifest", str(dummy), "--classes", str(dummy), "--text", str(dummy),
                 "--out", str(tmp_path / "out"), "--set", "train.epochs=2.5"])
    assert code == 1
    assert "train.epochs" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# ---- the real workflow: a bad config fails the dry run before any job -------------------------------

DRY_RUN = [
    ({"training": {"train": {"lr": "fast"}}}, "training.train.lr"),
    ({"training": {"train": {"epochs": 2.0}}}, "training.train.epochs"),
    ({"training": {"train": {"milestones": "50"}}}, "training.train.milestones"),
    ({"experiments": {"e": {"baseline": "eszsl", "options": {"gama": 1.0}}}}, "experiments.e.options.gama"),
    ({"experiments": {}}, "experiments"),
    ({"experiments": {"avgzslnet": None}}, "experiments.avgzslnet"),  # `avgzslnet:` with nothing after it
    ({"dataset": "features"}, "features"),
    ({"extract": {"video": {"crop_size": 128}}}, "extract.video.crop_size"),
]


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory):
    return copy_repo(tmp_path_factory.mktemp("cfg") / "repo")


@pytest.mark.parametrize("patch,key", DRY_RUN, ids=[key for _, key in DRY_RUN])
def test_dry_run_stops_before_any_job_naming_the_key(repo_copy, tmp_path, patch, key):
    config = tmp_path / "bad.yaml"  # one whole config file: a second --configfile would merge into the first
    config.write_text(yaml.safe_dump(_merge(TINY, patch)))
    proc = snakemake(repo_copy, "--configfile", str(config), "-n", check=False, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    assert f"{key}:" in out or f"{key} (in " in out, out[-3000:]
    assert "Job stats" not in out and not (repo_copy / "results").exists()


def test_a_folder_or_fifo_given_for_a_file_is_said_as_such(tmp_path):
    import os

    from avgzsl.pipeline.config_check import _file_problem

    os.mkfifo(tmp_path / "fifo")
    assert _file_problem(str(tmp_path)) == f"a folder, not a file: {tmp_path}"
    assert _file_problem(str(tmp_path / "fifo")) == f"a FIFO (named pipe), not a regular file: {tmp_path / 'fifo'}"
    assert _file_problem(str(tmp_path / "gone")) == f"file not found: {tmp_path / 'gone'}"
    assert _file_problem(str(tmp_path / "fifo"), "folder") == f"not a folder: {tmp_path / 'fifo'}"
    assert _file_problem(str(tmp_path), "folder") is None
