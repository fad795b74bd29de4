"""Recompute a run's metrics.json, and the result tables of all runs, from saved scores alone.

A run folder is one seed of one experiment, `<runs>/<experiment>/seed<k>/`, holding scores.npz
(+ val_scores.npz); avgzsl.evaluation.saved_scores writes metrics.json from exactly these files, so the numbers
recomputed here are the workflow's, bit for bit, however its jobs were split.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from avgzsl.datasets.registry import dataset_kind, names
from avgzsl.evaluation.saved_scores import METRICS_FILE, SCORES_FILE, metrics_text, recompute_run, summarize_seeds
from avgzsl.reporting.tables import write_result_tables


def layout_datasets() -> tuple[str, ...]:
    """Datasets whose runs the workflow writes to <results>/<dataset>/runs (a two-stage benchmark's sit one
    level deeper, beside avca_benchmark.json)."""
    return tuple(name for name in names() if not dataset_kind(name).two_stage)


def run_folders(runs_dir: str | os.PathLike) -> dict[str, list[Path]]:
    """experiment -> its seed folders holding scores, in seed order."""
    runs = Path(runs_dir)
    if not runs.is_dir():
        raise FileNotFoundError(f"runs folder not found: {runs}")
    found: dict[str, list[Path]] = {}
    for scores in sorted(runs.glob(f"*/seed*/{SCORES_FILE}")):
        seed = scores.parent.name[len("seed"):]
        if seed.isdigit():
            found.setdefault(scores.parent.parent.name, []).append(scores.parent)
    for folders in found.values():
        folders.sort(key=lambda p: int(p.name[len("seed"):]))
    if not found:
        raise FileNotFoundError(f"no <experiment>/seed<k>/{SCORES_FILE} under {runs}")
    return found


def recompute_summaries(runs_dir: str | os.PathLike) -> dict[str, dict]:
    """experiment -> {"experiment", "runs": [recomputed metrics per seed], "summary": mean / std over seeds}."""
    out = {}
    for experiment, folders in run_folders(runs_dir).items():
        runs = [recompute_run(folder) for folder in folders]
        out[experiment] = {"experiment": experiment, "runs": runs, "summary": summarize_seeds(runs)}
    return out


def recompute_tables(runs_dir: str | os.PathLike, out_dir: str | os.PathLike, *, dataset: str | None = None,
                     variant: str | None = None) -> dict[str, dict]:
    """Tables 1-4 from every run's saved scores (the coverage table needs the feature status files: not here).

    The runs of an AVCA-GZSL benchmark run sit beside its `avca_benchmark.json`, which names the benchmark and
    feature set (and so the published numbers the tables carry); given values must agree with it. Without
    one, `dataset` defaults to the folder the workflow names after it, `<results>/<dataset>/runs`."""
    record_path = Path(runs_dir).resolve().parent / "avca_benchmark.json"
    if record_path.is_file():
        record = json.loads(record_path.read_text())
        for name, given in (("benchmark", dataset), ("variant", variant)):
            if given not in (None, record[name]):
                raise ValueError(f"{record_path}: these runs are of {name} {record[name]!r}, not {given!r}")
        dataset, variant = record["benchmark"], record["variant"]
    elif dataset is None:
        dataset = dataset_of_layout(runs_dir)
    summaries = recompute_summaries(runs_dir)
    write_result_tables(summaries, out_dir, dataset, variant)
    return summaries


def dataset_of_layout(runs_dir: str | os.PathLike) -> str:
    """The dataset of `<results>/<dataset>/runs`, as the workflow lays runs out; an error when the folder
    above the runs names none (a copy renamed, say), rather than a table note naming the wrong dataset."""
    name = Path(os.path.abspath(runs_dir)).parent.name  # as named, symbolic links not followed
    known = layout_datasets()
    if name not in known:
        raise ValueError(f"{runs_dir}: cannot tell its dataset from the folder above it ({name!r} is none of "
                         f"{', '.join(known)}); pass --dataset")
    return name


def read_saved_metrics(run_dir: str | os.PathLike) -> tuple[str, dict]:
    """A run's metrics.json as text and as a dict; a file that is not UTF-8 JSON of a mapping is named."""
    path = Path(run_dir) / METRICS_FILE
    try:
        text = path.read_text(encoding="utf-8")
        saved = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a metrics file (not UTF-8 JSON: {err})") from err
    if not isinstance(saved, dict):
        raise ValueError(f"{path}: not a metrics file (a JSON {type(saved).__name__}, not a mapping)")
    return text, saved


def compare_with_saved(run_dir: str | os.PathLike, recomputed: dict) -> str | None:
    """None when the run's metrics.json has exactly the recomputed text, else what differs."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        return f"{path} does not exist"
    text, saved = read_saved_metrics(run_dir)
    if text == metrics_text(recomputed):
        return None
    keys = sorted(k for k in set(saved) | set(recomputed) if saved.get(k) != recomputed.get(k))
    return f"{path} differs from the recomputed metrics in: {', '.join(keys) or 'formatting'}"
