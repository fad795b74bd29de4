"""An experiment's `summary.json`: one layout for the workflow and `avgzsl train`, written atomically as strict
JSON, read back only when it has that layout.

    {"experiment": its name,
     "kind":       the model kind of a deep experiment, or the baseline's name,
     "spec":       the experiment as configured (below),
     "runs":       [each seed's metrics, as in its metrics.json],
     "summary":    {"<task>/<modality>/.../<metric>": {"mean", "std", "ci95", "n"}: over the seeds}}

`spec` is what the experiment was asked to be, not every resolved setting (each seed's config.json has those):
for a deep experiment its name, preset, seeds and the model / loss / train sections as given (the workflow merges
its `training:` defaults in; `avgzsl train` takes them from --config and --set), for a classical baseline its
name, baseline and options. An undefined number (NaN) is written as null (avgzsl.formats.results_json).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from avgzsl.evaluation.saved_scores import summarize_seeds
from avgzsl.formats.results_json import write_json
from avgzsl.settings.experiment import build_experiment

SUMMARY_FILE = "summary.json"
SUMMARY_KEYS = ("experiment", "kind", "spec", "runs", "summary")
STATISTICS = ("mean", "std", "ci95", "n")


class SummaryError(ValueError):
    """A file that is not an experiment summary in this layout; the message names the file."""


def experiment_kind(spec: dict) -> str:
    """The model kind of a deep experiment, or the baseline's name."""
    if "baseline" in spec:
        return spec["baseline"]
    cfg = build_experiment(name=spec["name"], preset_name=spec["preset"], model=spec["model"], loss=spec["loss"],
                           train=spec["train"])
    return cfg.model.kind


def build_summary(spec: dict, runs: list[dict]) -> dict:
    """The summary of an experiment's runs (one metrics dict per seed, in seed order)."""
    return {"experiment": spec["name"], "kind": experiment_kind(spec), "spec": spec, "runs": runs,
            "summary": summarize_seeds(runs)}


def write_summary(path: str | os.PathLike, spec: dict, runs: list[dict]) -> dict:
    """Build the summary and write it atomically as indented, key-sorted strict JSON; returns the summary."""
    summary = build_summary(spec, runs)
    write_json(path, summary)
    return summary


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON (an undefined number is written as null)")


def layout_problems(value) -> list[str]:
    """What keeps `value` from being a summary in this layout; empty when it is one."""
    if not isinstance(value, dict):
        return [f"expected a JSON object, found {type(value).__name__}"]
    problems = []
    missing = [k for k in SUMMARY_KEYS if k not in value]
    unknown = sorted(set(value) - set(SUMMARY_KEYS))
    if missing:
        problems.append(f"lacks {missing}")
    if unknown:
        problems.append(f"has keys no summary has: {unknown}")
    expected_types = {"experiment": str, "kind": str, "spec": dict, "runs": list, "summary": dict}
    for key, kind in expected_types.items():
        if key in value and not isinstance(value[key], kind):
            problems.append(f"{key!r} is a {type(value[key]).__name__}, not a {kind.__name__}")
    if isinstance(value.get("spec"), dict) and value["spec"].get("name") != value.get("experiment"):
        problems.append(f"spec name {value['spec'].get('name')!r} is not the experiment {value.get('experiment')!r}")
    if isinstance(value.get("runs"), list) and not all(isinstance(run, dict) for run in value["runs"]):
        problems.append("'runs' holds something other than metrics objects")
    if isinstance(value.get("summary"), dict):
        bad = [k for k, v in value["summary"].items() if not isinstance(v, dict) or any(s not in v for s in STATISTICS)]
        if bad:
            problems.append(f"summary entries without {list(STATISTICS)}: {bad[:3]}")
    return problems


def read_summary(path: str | os.PathLike) -> dict:
    """A summary.json checked against the layout above; SummaryError naming the file and what is wrong."""
    path = Path(path)
    text = path.read_text()
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as err:
        raise SummaryError(f"{path}: not strict JSON ({err})") from err
    problems = layout_problems(value)
    if problems:
        raise SummaryError(f"{path}: not an experiment summary: {'; '.join(problems)} (written by another program "
                           "or an older avgzsl? re-run the experiment's summary step)")
    return value
