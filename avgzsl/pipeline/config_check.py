"""Every workflow config value checked before any job runs; each error names its key (`training.train.lr: ...`).

`avgzsl/pipeline/config.schema.yaml` stays the one description of every key, its type and default.
`check_config` applies it (all errors, not just the first, with dotted key paths; `integer` meaning a
Python int, since JSON schema also accepts 2.0, which would reach `range()` in a job), fills in the
defaults, and then checks what a schema cannot say:

* experiment sections (`model`, `loss`, `train`) against the dataclasses of `avgzsl.settings.experiment`, and
  baseline `options` against each baseline's config dataclass (names, types, ranges) and its own
  constructor checks, so a typo in the last experiment does not wait for the others to run;
* the files each dataset needs, word vectors and I3D weights named by path, the download template;
* cross-field rules: crop inside the resized frame, mel band below Nyquist, increasing milestones, audio
  windows of whole CNN columns, a temporal model only where the run has feature sequences, ...

`check_experiment_sections` is the part the command line reuses for `avgzsl train --config/--set`; its field
rules (`avgzsl.settings.checks`) also check the config stored in a checkpoint.
"""

from __future__ import annotations

import copy
import re
import string
from collections.abc import Callable
from pathlib import Path

import yaml
from avgzsl_extractors import windows

from avgzsl.datasets.download import id_argument_problems
from avgzsl.datasets.registry import dataset_kind
from avgzsl.datasets.registry import names as dataset_names
from avgzsl.runtime.errors import input_file_problem

# the field rules (types, ranges) live with the settings, where the checkpoint loader checks a stored config
# by them too; imported here under their old names for the workflow's checks, the command line and the tests
from avgzsl.settings.checks import (  # noqa: F401
    MISSING_MODALITY,
    RULES,
    SECTIONS,
    ConfigError,
    at_least,
    below_one,
    field_problems,
    one_of,
    positive,
)
from avgzsl.settings.experiment import MODEL_KINDS, ModelConfig

SCHEMA = Path(__file__).resolve().parent / "config.schema.yaml"  # package data: installed with the package
OFFLINE_TEXT_SOURCES = ("glove-6b-50d",)  # avgzsl_extractors.text.GLOVE_6B_50D (a test keeps them equal)
I3D_WEIGHT_NAMES = ("kinetics400",)
DOWNLOAD_FIELDS = ("youtube_id", "start", "end", "out", "clip_id")  # avgzsl.datasets.download.build_command


# what the built-in methods declare (avgzsl.models.registry.BUILTIN_METHODS; a test keeps them equal), so that
# checking a config of built-in methods does not import torch on every parse of the workflow
BUILTIN_ATTENTION = ("avgzslnet", "cjme")
BUILTIN_OPTIONS = ("tcaf",)  # built-in methods with an Options dataclass: checked through the registry (torch)
BUILTIN_SEQUENCE_INPUTS = ("tcaf",)  # built-in methods that read feature sequences (`sequence_inputs`)


def reads_sequences(kind: str) -> bool:
    """Whether the method a `model.kind` names trains on feature sequences; False for a kind that does not load
    (method_problems reports that)."""
    if kind in MODEL_KINDS:
        return kind in BUILTIN_SEQUENCE_INPUTS
    from avgzsl.models.method import MethodError
    from avgzsl.models.registry import method_class

    try:
        return bool(method_class(kind).sequence_inputs)
    except MethodError:
        return False


def method_problems(model: dict, preset: str | None = None) -> list[tuple[str, str, str]]:
    """What the method a `model.kind` names says about the rest of the config: attention, options, presets."""
    kind = model.get("kind", ModelConfig.kind)
    if kind in MODEL_KINDS and kind not in BUILTIN_OPTIONS:  # built in: no options, no preset limits
        problems = []
        if model.get("attention") and kind not in BUILTIN_ATTENTION:
            problems.append(("model", "attention", f"only avgzslnet and cjme learn attention, not {kind!r}"))
        if model.get("options"):
            problems.append(("model", "options", f"{kind} takes no model.options, got {sorted(model['options'])}"))
        return problems
    from avgzsl.models.method import MethodError, method_name, parse_options
    from avgzsl.models.registry import method_class

    try:
        cls = method_class(kind)
    except MethodError as err:
        return [("model", "kind", str(err))]
    problems = []
    if model.get("attention") and not cls.learns_attention:
        problems.append(("model", "attention", f"{method_name(cls)} learns no attention (kind {kind!r})"))
    try:
        parse_options(cls, model.get("options"))
    except MethodError as err:
        problems.append(("model", "options", str(err)))
    if preset is not None and cls.presets is not None and preset not in cls.presets:
        problems.append(("model", "kind", f"{method_name(cls)} takes the presets {list(cls.presets)}, not {preset!r}"))
    return problems


def experiment_problems(model: dict, loss: dict, train: dict, preset: str | None = None) -> list[tuple[str, str, str]]:
    """(section, key, problem) for one deep experiment's merged model/loss/train overrides."""
    sections = {"model": model, "loss": loss, "train": train}
    problems = [(s, k, p) for s, cls in SECTIONS.items() for k, p in field_problems(cls, sections[s])]
    if problems:
        return problems  # the cross-field rules below assume well-typed values
    kind = model.get("kind", ModelConfig.kind)
    problems += method_problems(model, preset)
    if train.get("avca_extra_embedding_pass") and kind not in ("avca", "tcaf"):
        problems.append(("train", "avca_extra_embedding_pass", f"only avca and tcaf have this pass, not {kind!r}"))
    terms = {t: loss.get(t, True) for t in ("rec", "cta", "ctv", "ta", "at", "tv", "vt")}
    if kind == "avgzslnet" and not any(terms.values()) and not model.get("attention"):
        problems.append(("loss", next(iter(terms)), "every loss term of avgzslnet is switched off: nothing to train"))
    return problems


def check_experiment_sections(sections: dict[str, dict], prefix: str = "", preset: str | None = None) -> None:
    """The command line's check of `--config` / `--set` overrides; keys are named `prefix + section.key`."""
    unknown = sorted(set(sections) - set(SECTIONS))
    problems = [(f"{prefix}{s}", f"unknown section; valid: {', '.join(SECTIONS)}") for s in unknown]
    problems += [(f"{prefix}{s}.{k}", p) for s, k, p in experiment_problems(
        *(sections.get(s) or {} for s in SECTIONS), preset=preset)]
    if problems:
        raise ConfigError(problems)


# ---- the workflow config ----------------------------------------------------------------------


def _schema_problems(config: dict, schema_path: str | Path) -> list[tuple[str, str]]:
    """Validate against the schema, filling in its defaults as snakemake.utils.validate does; every error.

    `integer` means a Python int here: JSON schema also accepts 2.0, which breaks `range()` in a job.
    """
    from jsonschema import Draft202012Validator, validators

    schema = yaml.safe_load(Path(schema_path).read_text())
    checker = Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, v: isinstance(v, int) and not isinstance(v, bool))
    check_properties = Draft202012Validator.VALIDATORS["properties"]

    def properties_with_defaults(validator, properties, instance, schema):
        if validator.is_type(instance, "object"):
            for key, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(key, copy.deepcopy(sub["default"]))
        yield from check_properties(validator, properties, instance, schema)

    cls = validators.extend(Draft202012Validator, {"properties": properties_with_defaults}, type_checker=checker)
    problems = []
    for error in cls(schema).iter_errors(config):
        where = _dotted(error.absolute_path)
        if error.validator == "additionalProperties" and error.validator_value is False:
            valid = ", ".join(error.schema.get("properties", {}))
            for key in sorted(set(error.instance) - set(error.schema.get("properties", {}))):
                hint = f" ({WORKFLOW_OWNED[key]})" if key in WORKFLOW_OWNED and "experiments" in where else ""
                problems.append((f"{where}.{key}" if error.absolute_path else key, f"unknown key{hint}; valid: {valid}"))
        else:
            problems.append((where, error.message + _hint(error)))
    return problems


# experiment keys the workflow sets itself (the command line takes them)
WORKFLOW_OWNED = {
    "audio_dim": "read from the feature shards", "video_dim": "read from the feature shards",
    "text_dim": "read from the feature shards", "seed": "the experiment's seeds set it",
    "device": "the top-level device sets it",
}


def _hint(error) -> str:
    """The usual YAML slip behind a type error, or what to do."""
    if error.validator == "minProperties":
        return ": give at least one"
    if error.validator != "type":
        return ""
    expected, value = error.validator_value, error.instance
    expected = expected if isinstance(expected, list) else [expected]
    if "object" in expected and value is None:
        return " (a key with nothing after the colon is null: write {} for no settings)"
    if "integer" in expected and isinstance(value, float):
        return " (write a whole number without a decimal point)"
    if "number" in expected and isinstance(value, str):
        return " (YAML reads 1e-3 as text: write 1.0e-3)" if re.fullmatch(r"[-+]?\d+[eE][-+]?\d+", value) else ""
    return ""


def _dotted(path) -> str:
    """('features', 'audio', 1) -> 'features.audio[1]'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _file_problem(path: str, kind: str = "file") -> str | None:
    p = Path(path).expanduser()
    problem = input_file_problem(p, folder=kind == "folder")
    if not problem:
        return None
    # a folder or FIFO given for a file is said as such, not as "not found"
    what = f"{kind} not found" if problem == "no such file or folder" else problem
    return f"{what}: {path}" + ("" if p.is_absolute() else f" (relative to the working directory {Path.cwd()})")


def _dataset_problems(config: dict) -> list[tuple[str, str]]:
    kind, problems = dataset_kind(config["dataset"]), []

    def need(key: str, value: str, what: str = "file") -> None:
        if not value:
            problems.append((key, f"required for dataset {kind.name}"))
        elif problem := _file_problem(value, what):
            problems.append((key, problem))

    def optional(key: str, value: str, what: str = "file") -> None:
        if value:
            need(key, value, what)

    problems += kind.path_problems(config, need, optional)
    if kind.may_download:  # manifest rows may name YouTube ids
        problems += _template_problems(config["audiosetzsl"]["download_command"])
    return problems


def _template_problems(command: str) -> list[tuple[str, str]]:
    key = "audiosetzsl.download_command"
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(command) if name is not None}
    except ValueError as err:
        return [(key, f"not a valid template ({err}); write literal braces as {{{{ }}}}")]
    unknown = sorted(fields - set(DOWNLOAD_FIELDS))
    problems = []
    if unknown:
        problems.append((key, f"unknown field(s) {unknown}; known: {list(DOWNLOAD_FIELDS)}"))
    if "out" not in fields:  # the clip is expected there; which clip is up to the command ({out} names it)
        problems.append((key, "must contain {out}, the file the command writes"))
    return problems + [(key, problem) for problem in id_argument_problems(command)]


def _extract_problems(config: dict) -> list[tuple[str, str]]:
    ex, problems = config["extract"], []
    rate, mel = ex["decode"]["sample_rate"], ex["logmel"]
    if mel["fmax"] > rate / 2:
        problems.append(("extract.logmel.fmax", f"{mel['fmax']} Hz is above the Nyquist frequency "
                         f"{rate / 2:g} Hz of extract.decode.sample_rate {rate}"))
    if mel["fmin"] >= mel["fmax"]:
        problems.append(("extract.logmel.fmin", f"must be below extract.logmel.fmax ({mel['fmin']} >= {mel['fmax']})"))
    video = ex["video"]
    if video["crop_size"] > video["resize_short_side"]:
        problems.append(("extract.video.crop_size", f"{video['crop_size']} is larger than "
                         f"extract.video.resize_short_side {video['resize_short_side']}: the crop must fit the frame"))
    n_convs = len(ex["audio_cnn"]["channels"])
    bad = [i for i in ex["audio_cnn"]["pool_after"] if i >= n_convs]
    if bad:
        problems.append(("extract.audio_cnn.pool_after", f"indices {bad} name no conv: there are {n_convs} "
                         "(extract.audio_cnn.channels), numbered from 0"))
    kind = dataset_kind(config["dataset"])
    if not kind.extracts:
        return problems  # nothing is extracted: the files below are never read
    problems += _audio_window_problems(config)
    source = ex["text"]["source"]
    if source == "auto" and kind.default_text_source == "word2vec":
        if problem := _file_problem(kind.text_source(config)):
            problems.append(("extract.text.source", f"'auto' means the GoogleNews word2vec for {kind.name}: "
                             f"{problem}; put it there or set a word2vec path or glove-6b-50d"))
    elif source != "auto" and source not in OFFLINE_TEXT_SOURCES and _file_problem(source):
        problems.append(("extract.text.source", f"{source!r} is not 'auto', a known offline name "
                         f"({', '.join(OFFLINE_TEXT_SOURCES)}) or an existing word-vector file"))
    weights = ex["video"]["weights"]
    if weights not in I3D_WEIGHT_NAMES and _file_problem(weights):
        problems.append(("extract.video.weights", f"{weights!r} is not {' or '.join(I3D_WEIGHT_NAMES)} or an "
                         "existing torch checkpoint file"))
    return problems


def _audio_window_problems(config: dict) -> list[tuple[str, str]]:
    """With extract.features temporal, the audio window and hop must be whole columns of the CNN's last map."""
    ex = config["extract"]
    if ex["features"] != "temporal":
        return []
    column_s = windows.column_seconds(len(ex["audio_cnn"]["channels"]), ex["audio_cnn"]["pool_after"],
                                      ex["logmel"]["hop_length"], ex["decode"]["sample_rate"])
    problems = []
    for key in ("audio_window_s", "audio_hop_s"):
        try:
            windows.seconds_to_columns(ex["temporal"][key], column_s, f"extract.temporal.{key}")
        except ValueError as err:
            problems.append((f"extract.temporal.{key}", str(err).removeprefix(f"extract.temporal.{key} ")))
    return problems


def _sequence_problems(config: dict) -> list[tuple[str, str]]:
    """A deep experiment whose method reads feature sequences (tcaf) in a run that has none: one line each."""
    why = dataset_kind(config["dataset"]).missing_sequences(config)
    if why is None:
        return []
    defaults = config["training"].get("model", {})
    problems = []
    for name, spec in config["experiments"].items():
        if "baseline" in spec:
            continue
        own = "kind" in spec.get("model", {})
        kind = {**defaults, **spec.get("model", {})}.get("kind", ModelConfig.kind)
        if reads_sequences(kind):
            where = f"experiments.{name}.model.kind" if own else f"training.model.kind (in {name})"
            problems.append((where, f"{kind} trains on feature sequences, which this run has none of: {why}"))
    return problems


def _baseline_problems(name: str, spec: dict) -> list[tuple[str, str]]:
    from avgzsl.baselines import baseline_class, create_baseline

    where = f"experiments.{name}"
    problems = [(f"{where}.{k}", f"baselines take only options; {k} is for deep experiments")
                for k in ("preset", "seeds", "model", "loss", "train") if k in spec]
    try:
        method, options = baseline_class(spec["baseline"]), spec.get("options", {})
    except ValueError as err:
        return problems + [(f"{where}.baseline", str(err))]
    bad = field_problems(method.config_class, options, BASELINE_RULES)
    problems += [(f"{where}.options.{k}", p) for k, p in bad]
    if not bad:
        try:  # the baseline's own checks of its settings (enumerations, combinations)
            create_baseline(spec["baseline"], **options)
        except ValueError as err:
            problems.append((f"{where}.options", str(err)))
    return problems


# baseline settings by name; the types come from each baseline's config dataclass
BASELINE_RULES: dict[str, Callable] = {
    "epochs": at_least(1), "batch_size": at_least(1), "max_iter": at_least(1), "top_t": at_least(1),
    "n_components": lambda v: None if v is None else at_least(1)(v), "learning_rate": positive,
    "momentum": below_one, "weight_decay": at_least(0), "margin": at_least(0), "regularization_c": positive,
    "regularization": positive, "ridge": positive, "lam": positive, "gamma": positive,
}


def _experiment_problems(config: dict) -> list[tuple[str, str]]:
    defaults, problems = config["training"], []
    for section, cls in SECTIONS.items():
        problems += [(f"training.{section}.{k}", p) for k, p in field_problems(cls, defaults.get(section, {}))]
    if problems:
        return problems  # every experiment inherits them; one report each is enough
    for name, spec in config["experiments"].items():
        if "baseline" in spec:
            problems += _baseline_problems(name, spec)
            continue
        if "options" in spec:
            problems.append((f"experiments.{name}.options", "options are for baselines; deep experiments take "
                             "model, loss and train"))
        merged = {s: {**defaults.get(s, {}), **spec.get(s, {})} for s in SECTIONS}
        for section, key, problem in experiment_problems(**merged, preset=spec.get("preset", defaults.get("preset"))):
            own = key in spec.get(section, {}) or key not in defaults.get(section, {})
            where = f"experiments.{name}.{section}.{key}" if own else f"training.{section}.{key} (in {name})"
            problems.append((where, problem))
    return problems


def check_config(config: dict, schema: str | Path = SCHEMA) -> dict:
    """Raise ConfigError naming every bad key of a workflow config; return a copy with the defaults filled in.

    Call it before `snakemake.utils.validate` (which stops at the first error and fills in the same defaults).
    """
    config = copy.deepcopy(config)
    problems = _schema_problems(config, schema)
    if problems:
        raise ConfigError(problems)  # the checks below rely on the schema's types
    if config["dataset"] not in dataset_names():
        raise ConfigError([("dataset", f"unknown dataset {config['dataset']!r}; known: {', '.join(dataset_names())}")])
    problems = _dataset_problems(config) + _extract_problems(config) + _experiment_problems(config)
    if problems:
        raise ConfigError(problems)
    problems = _sequence_problems(config)  # after the experiment checks: every model.kind resolves
    if problems:
        raise ConfigError(problems)
    return config
