# Config validation, the parse-time manifest (fixed shard fan-out) and input functions.

import math
import os
from pathlib import Path

import pandas as pd
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from avgzsl.pipeline.code_deps import code_digest
from avgzsl.settings.experiment import build_experiment
from avgzsl.pipeline.config_check import ConfigError, check_config
from avgzsl.pipeline.config_check import SCHEMA as CONFIG_SCHEMA
from avgzsl.datasets.avca_benchmarks import (
    VARIANTS,
    BenchmarkSplitError,
    is_temporal,
    locate_class_split,
)
from avgzsl.datasets.registry import dataset_kind
from avgzsl.datasets.tcaf_import import features_folder as tcaf_features_folder
from avgzsl.formats.media_tables import shard_job_rows
from avgzsl_extractors.i3d_weights import weights_source

try:  # every bad key at once, by name: the schema, then paths per dataset, cross-field rules, baseline options
    check_config(config)
except ConfigError as err:
    raise WorkflowError(f"config: {err}")
validate(
    config, schema=str(CONFIG_SCHEMA)
)  # the package's schema (package data, avgzsl/pipeline/)

REPO = Path(workflow.basedir)
DATASET = config["dataset"]
# what this dataset is: its inputs, how it is ingested, its stages (avgzsl/datasets/kind.py); the rules
# ask it instead of comparing names
KIND = dataset_kind(DATASET)
R = KIND.result_dir(config)  # every output of this run lives under here
MEDIA_ROOT = KIND.media_root(config)
# how existing features come in: "released", "avca_benchmark" (an import rule), or None
FEATURES_IMPORT = KIND.features_import(config)
GPU = 0 if config["device"] == "cpu" else 1  # resources: gpu for rules that use one


def canonical(value):
    """Config slices with sorted keys: Snakemake compares params by their text, and key order is noise."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def code(script, *modules, method=None, method_group="avgzsl.methods"):
    """A rule's code, for its params: a digest of the syntax trees of its script and of the avgzsl
    modules it imports, transitively (avgzsl/pipeline/code_deps.py), plus `modules` it reaches by name
    (the dataset kind's) and, for a method outside the package, that method's own modules. Code edits
    change it and re-run the rule; comments, docstrings and layout do not. Paths inside are relative to
    the repository, so a moved or copied run keeps its record.
    """
    return code_digest(
        REPO / "workflow" / "scripts" / script,
        REPO,
        modules=modules,
        method=method,
        method_group=method_group,
    )


def train_code(wildcards):
    """train_seed's code: its script's, and the experiment's method's when it lives outside the package,
    so that editing a user's method re-runs that method's jobs and only those."""
    kind = EXPERIMENTS[wildcards.experiment]["model"].get("kind", "avgzslnet")
    return code("train_seed.py", method=kind)


def baseline_code(wildcards):
    """run_baseline's code, with a baseline of the user's own as train_code adds a method."""
    name = EXPERIMENTS[wildcards.experiment]["baseline"]
    return code("run_baseline.py", method=name, method_group="avgzsl.baselines")


def text_settings():
    """The text slice with `source: auto` resolved (the paper's 300-d word2vec for AudioSetZSL)."""
    return canonical({**config["extract"]["text"], "source": KIND.text_source(config)})


def word_vector_file():
    """The word-vector file the text rule reads, when it is one of the user's (or the GoogleNews) files.

    Missing, it is left out, so the text job fails with its own message naming the file and how to get it.
    """
    source = text_settings()["source"]
    if source != "glove-6b-50d" and os.path.isfile(source):
        return [source]
    return []


def _dataset_manifest():
    """The clip list, known before any job runs, so the shard fan-out is fixed at parse time."""
    if not KIND.extracts:
        return None  # nothing to extract: training reads existing features
    return KIND.build_manifest(KIND.settings(config), resources=config["resources"])[0]


def demo_settings():
    return canonical(config["demo"])


try:
    MANIFEST = _dataset_manifest()
except (ValueError, FileNotFoundError, KeyError) as err:
    raise WorkflowError(f"cannot build the {DATASET} manifest: {err}")
N_SHARDS = 0 if MANIFEST is None else math.ceil(len(MANIFEST) / config["shard_size"])
SHARDS = [f"{k:05d}" for k in range(N_SHARDS)]


def shard_rows_param(wildcards):
    """A shard's manifest rows as its media job needs them, as a param: the job re-runs when they change,
    and only then. Class and split are left out (a relabelled clip keeps its media), except for the demo,
    whose clips are rendered from their class."""
    rows = shard_job_rows(MANIFEST, wildcards.shard, config["shard_size"])
    return (
        rows
        if KIND.media_rows_keep_labels
        else rows.drop(columns=["class", "split"], errors="ignore")
    )


def shard_media_files(wildcards):
    """The user's clips of one shard that exist now: editing one re-runs its shard's media job."""
    rows = shard_job_rows(MANIFEST, wildcards.shard, config["shard_size"])
    if "path" not in rows:
        return []
    return sorted(
        {p for p in rows["path"] if isinstance(p, str) and p and os.path.isfile(p)}
    )


def dataset_user_inputs():
    """The user's files the manifest is built from: the custom CSV and class lists, or the files of
    a local folder of AudioSetZSL split lists."""
    return KIND.user_inputs(KIND.settings(config), folder_files)


def folder_files(root):
    """Every file under a folder, sorted (a folder input would only see its own mtime)."""
    return sorted(
        str(Path(d) / f)
        for d, _, files in os.walk(root)
        for f in files
        if not f.startswith(".")
    )


# ---- experiments ---------------------------------------------------------------------------


def _resolve_experiments():
    """Merge training defaults into each experiment and validate it now, naming the bad key."""
    out = {}
    defaults = config["training"]
    for name, spec in config["experiments"].items():
        if "baseline" in spec:
            out[name] = {
                "name": name,
                "baseline": spec["baseline"],
                "options": spec.get("options", {}),
            }
            continue
        sections = {}
        for section in ("model", "loss", "train"):
            sections[section] = {**defaults.get(section, {}), **spec.get(section, {})}
        sections["train"]["device"] = config["device"]
        preset = spec.get("preset", defaults["preset"])
        try:
            build_experiment(name=name, preset_name=preset, **sections)
        except ValueError as err:
            raise WorkflowError(f"config: experiments.{name}: {err}")
        out[name] = {
            "name": name,
            "preset": preset,
            "seeds": list(spec.get("seeds", defaults["seeds"])),
            **sections,
        }
    return out


EXPERIMENTS = canonical(_resolve_experiments())
DEEP = [n for n, e in EXPERIMENTS.items() if "baseline" not in e]
BASELINES = [n for n, e in EXPERIMENTS.items() if "baseline" in e]


def seed_spec(wildcards):
    """What one seed's training depends on: the experiment without its list of seeds, so that
    adding a seed leaves the other seeds' jobs untouched."""
    return {k: v for k, v in EXPERIMENTS[wildcards.experiment].items() if k != "seeds"}


def seed_dirs(wildcards):
    spec = EXPERIMENTS[wildcards.experiment]
    return [f"{R}/runs/{wildcards.experiment}/seed{s}" for s in spec["seeds"]]


# ---- temporal features ----------------------------------------------------------------------

# extract.features: temporal: each extraction job also writes its clips' window sequences, from the same pass
TEMPORAL_EXTRACTION = KIND.extracts_sequences(config)


def sequence_output(modality):
    """The sequence shard an extraction job writes beside its feature shard (none with averaged features)."""
    if not TEMPORAL_EXTRACTION:
        return {}
    return {"sequences": f"{R}/features/{modality}_seq/shard_{{shard}}.h5"}


def temporal_settings():
    """The audio windows of the sequences, a param of the audio jobs only when they write sequences."""
    return canonical(config["extract"]["temporal"]) if TEMPORAL_EXTRACTION else {}


# ---- weights -------------------------------------------------------------------------------

I3D_WEIGHTS = f"{config['resources']}/models/i3d_kinetics400_rgb.pt"


def video_weights_inputs():
    """The I3D weights the video jobs read: the converted Kinetics-400 state dict this run's
    `i3d_weights` rule writes (with its checksum), or the user's own checkpoint."""
    weights = config["extract"]["video"]["weights"]
    if weights == "kinetics400":
        return {"weights": I3D_WEIGHTS, "sha256": f"{I3D_WEIGHTS}.sha256"}
    return {"weights": weights}


# ---- inputs --------------------------------------------------------------------------------


def status_tables(modality):
    if not KIND.extracts:
        return []
    return expand(f"{R}/features/{modality}/shard_{{shard}}.status.tsv", shard=SHARDS)


def released_files():
    return folder_files(config["features"]["released_root"])


def avca_split_list_files():
    """The files of this benchmark's class-split folder in a local folder of AVCA-GZSL class lists (none when
    they are fetched): the other benchmarks' lists beside it are no input of this run.
    """
    lists = config["avca_gzsl"]["split_lists"]
    if lists == "pinned":
        return []
    try:
        return folder_files(locate_class_split(lists, KIND.benchmark))
    except BenchmarkSplitError as err:
        raise WorkflowError(f"config: avca_gzsl.split_lists: {err}")


def avca_released_files():
    """The files of the chosen feature set (features/<main|cls>_features/, or TCaF's
    features/<main|cls>_features_non_averaged/ with `features: temporal`): the other set is no input.
    """
    avca = config["avca_gzsl"]
    if is_temporal(config):
        features = tcaf_features_folder(avca["variant"])
    else:
        features = VARIANTS[avca["variant"]].features_folder
    return folder_files(Path(avca["root"]) / "features" / features)


def avca_sequence_shards():
    """The sequence shards a temporal (TCaF) import writes beside the clip-mean shards; none otherwise."""
    if not is_temporal(config):
        return []
    return [
        f"{R}/features/{m}_seq/{s}.h5"
        for m in ("audio", "video")
        for s in ("trn", "val", "tst")
    ]


def feature_inputs():
    """What training reads: manifest, class table, text and shards, where the dataset kind says they are.
    Not the status tables: each is written with its shard by one job, and ~600 more files per training
    job would slow the DAG build of a full dataset."""
    return KIND.training_files(config, R, SHARDS)


def final_targets():
    tables = expand(
        f"{R}/tables/{{table}}.{{ext}}",
        table=[
            "table1_classification",
            "table2_retrieval",
            "table3_cmd_ablation",
            "table4_ct_ablation",
            "coverage",
        ],
        ext=["csv", "md"],
    )
    return tables + [
        f"{R}/figures/training_curves.png",
        f"{R}/figures/tsne.png",
        f"{R}/figures/critical_difference.png",
    ]
