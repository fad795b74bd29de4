# Config validation, the parse-time manifest (fixed shard fan-out) and input functions.

import math
from pathlib import Path

import pandas as pd
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from avgzsl.config import build_experiment
from avgzsl.config_check import ConfigError, check_config

try:  # every bad key at once, by name: the schema, then paths per dataset, cross-field rules, baseline options
    check_config(
        config, schema=Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"
    )
except ConfigError as err:
    raise WorkflowError(f"config: {err}")
validate(config, schema="../schemas/config.schema.yaml")

REPO = Path(workflow.basedir)
DATASET = config["dataset"]
R = f"{config['results']}/{DATASET}"  # every output of this run lives under here
MEDIA_ROOT = f"{config['resources']}/{DATASET}"
GPU = 0 if config["device"] == "cpu" else 1  # resources: gpu for rules that use one


def canonical(value):
    """Config slices with sorted keys: Snakemake compares params by their text, and key order is noise."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def sources(*relative):
    """Source files as inputs, so that editing an extractor re-runs exactly its jobs."""
    return [str(REPO / r) for r in relative]


GOOGLE_NEWS = f"{config['resources']}/word2vec/GoogleNews-vectors-negative300.bin"


def text_settings():
    """The text slice with `source: auto` resolved: the paper's 300-d word2vec for AudioSetZSL."""
    text = dict(config["extract"]["text"])
    if text["source"] == "auto":
        text["source"] = GOOGLE_NEWS if DATASET == "audiosetzsl" else "glove-6b-50d"
    return canonical(text)


DECODE_SOURCES = sources(
    "extractors/decode.py",
    "extractors/probe.py",
    "extractors/extract.py",
    "avgzsl/features.py",
)
AUDIO_SOURCES = DECODE_SOURCES + sources(
    "extractors/logmel.py", "extractors/audio_cnn.py", "extractors/audio_train.py"
)
VIDEO_SOURCES = DECODE_SOURCES + sources(
    "extractors/i3d.py", "extractors/i3d_weights.py", "extractors/video.py"
)
TEXT_SOURCES = sources("extractors/text.py", "avgzsl/features.py")


def _dataset_manifest():
    """The clip list, known before any job runs, so the shard fan-out is fixed at parse time."""
    if DATASET == "features":
        return None  # nothing to extract
    from avgzsl.steps import dataset_manifest

    return dataset_manifest(DATASET, config[DATASET], resources=config["resources"])[0]


def demo_settings():
    return canonical(config["demo"])


try:
    MANIFEST = _dataset_manifest()
except (ValueError, FileNotFoundError, KeyError) as err:
    raise WorkflowError(f"cannot build the {DATASET} manifest: {err}")
N_SHARDS = 0 if MANIFEST is None else math.ceil(len(MANIFEST) / config["shard_size"])
SHARDS = [f"{k:05d}" for k in range(N_SHARDS)]


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


# ---- inputs --------------------------------------------------------------------------------


def manifest_path():
    if DATASET == "features" and not config["features"]["released_root"]:
        return config["features"]["manifest"]
    return f"{R}/manifest.csv"


def classes_path():
    if DATASET == "features" and not config["features"]["released_root"]:
        return config["features"]["classes"]
    return f"{R}/classes.tsv"


def text_path():
    if DATASET == "features":
        return config["features"]["text"] or f"{R}/features/text.h5"
    return f"{R}/features/text.h5"


def feature_shards(modality):
    if DATASET == "features":
        if config["features"]["released_root"]:
            return [f"{R}/features/{modality}/{s}.h5" for s in ("trn", "val", "tst")]
        return list(config["features"][modality])
    return expand(f"{R}/features/{modality}/shard_{{shard}}.h5", shard=SHARDS)


def status_tables(modality):
    if DATASET == "features":
        return []
    return expand(f"{R}/features/{modality}/shard_{{shard}}.status.tsv", shard=SHARDS)


def feature_inputs():
    return {
        "manifest": manifest_path(),
        "classes": classes_path(),
        "text": text_path(),
        "audio": feature_shards("audio"),
        "video": feature_shards("video"),
        "audio_status": status_tables("audio"),
        "video_status": status_tables("video"),
    }


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
