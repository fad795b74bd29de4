"""The critical-difference diagram over all AVCA-GZSL benchmark datasets of one feature set.

Treatments: the experiments run on every dataset given (the others are left out, each with its reason).
Blocks: the test classes of all datasets pooled; a block's score is the class's GZSL accuracy in the row the
benchmark table reports (`avgzsl.reporting.avca_published.reported_modality`: "both", or video for a model without it),
calibrated with the β each seed's metrics.json chose on stage-1 val (the β behind the table's calibrated
S / U / HM), averaged over the experiment's seeds. The mean of these per-class accuracies over a dataset's
seen (unseen) classes is, for one seed, the table's S (U). Friedman + Nemenyi: `avgzsl.evaluation.significance`.
"""

from __future__ import annotations

import json
import logging
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from avgzsl.evaluation.metrics import per_class_accuracy, scored_rows
from avgzsl.evaluation.saved_scores import SCORES_FILE, read_scores
from avgzsl.evaluation.significance import friedman_nemenyi, plot_critical_difference
from avgzsl.formats.results_json import write_json
from avgzsl.reporting.avca_published import DATASETS, FEATURE_SETS, method_name, reported_modality
from avgzsl.reporting.avca_table import read_result

log = logging.getLogger("avgzsl.reporting.benchmark_significance")

BLOCKS = ("the test classes of all datasets pooled, seen and unseen alike; a class's score is its GZSL accuracy "
          "(all classes candidates, calibrated β chosen on stage-1 val) in the reported row, averaged over seeds; "
          "ranks per-class accuracy, not the table's HM")


class ScoresMissing(Exception):
    """An experiment's per-class accuracies cannot be read on one dataset (the message says why)."""


@dataclass(frozen=True)
class DatasetScores:
    """One experiment on one dataset: the row it reports and its per-class accuracies, or why they are missing."""

    row: str
    accuracy: pd.Series | None = None
    missing: str | None = None
    seen: frozenset[str] = frozenset()  # the seen classes among the accuracy's index


def per_class_over_seeds(result_dir: str | os.PathLike, dataset: str, summary: dict) -> pd.Series:
    """Per-class calibrated GZSL accuracy of the reported row, mean over the seeds in summary.json;
    index `<dataset>/<class>`, NaN for a class without a scored test clip."""
    modality = reported_modality(summary)
    accuracies, names = [], None
    for run in summary["runs"]:
        path = Path(result_dir) / "runs" / summary["experiment"] / f"seed{run.get('seed', 0)}" / SCORES_FILE
        if not path.is_file():
            raise ScoresMissing(f"{path} not found")
        beta = run["classification"].get(modality, {}).get("calibrated", {}).get("beta")
        if beta is None:
            raise ScoresMissing(f"{path.parent / 'metrics.json'}: no calibrated β for the {modality} row (no val "
                                "scores)")
        saved = read_scores(path)
        if f"distances_{modality}" not in saved:
            raise ScoresMissing(f"{path}: no distances_{modality}")
        # the clips the reported row scores (the run's missing-modality policy), as in metrics.json
        policy = json.loads(str(saved["run_info"])).get("missing_modality", "exclude") if "run_info" in saved \
            else "exclude"
        keep = scored_rows(modality, saved["has_audio"], saved["has_video"], policy)
        seed_names = [str(n) for n in saved["class_names"]]
        if names is not None and seed_names != names:
            raise ScoresMissing(f"{path}: class list differs from the experiment's other seeds")
        names = seed_names
        accuracies.append(per_class_accuracy(saved[f"distances_{modality}"][keep], saved["labels"][keep],
                                             len(names), seen=saved["seen"], beta=beta))
    if not accuracies:
        raise ScoresMissing(f"{Path(result_dir) / 'runs' / summary['experiment'] / 'summary.json'}: no runs")
    series = pd.Series(np.mean(accuracies, axis=0), index=[f"{dataset}/{n}" for n in names])
    series.attrs["seen"] = frozenset(series.index[np.asarray(saved["seen"], bool)])
    return series


def _collect(result_dirs) -> dict[tuple[str, str], dict[str, dict[tuple[str, str], DatasetScores]]]:
    """(variant, lookup) -> dataset -> (method, experiment) -> its scores there."""
    groups: dict = {}
    for folder in result_dirs:
        record, summaries = read_result(folder)
        by_dataset = groups.setdefault((record["variant"], record["text_lookup"]), {})
        if record["benchmark"] in by_dataset:
            raise ValueError(f"{folder}: a second result folder for {record['benchmark']} ({record['variant']}, "
                             f"text {record['text_lookup']}); give one per benchmark and feature set")
        entries = by_dataset[record["benchmark"]] = {}
        for summary in summaries:
            key = (method_name(summary), summary["experiment"])
            row = reported_modality(summary)
            try:
                accuracy = per_class_over_seeds(folder, record["benchmark"], summary)
                entries[key] = DatasetScores(row, accuracy=accuracy, seen=accuracy.attrs["seen"])
            except ScoresMissing as missing:
                entries[key] = DatasetScores(row, missing=str(missing))
                log.warning("critical-difference diagram: %s %s left out on %s: %s", key[0], key[1],
                            record["benchmark"], missing)
    return groups


def _labels(keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    methods = [m for m, _ in keys]
    return {(m, e): m if methods.count(m) == 1 else f"{m} ({e})" for m, e in keys}


def _reason_figure(path: Path, heading: str, reason: str) -> None:
    figure = Figure(figsize=(8.0, 2.0), layout="constrained")
    axes = figure.add_subplot()
    axes.axis("off")
    axes.text(0.5, 0.5, textwrap.fill(f"No critical-difference diagram: {reason}", 90), ha="center", va="center",
              fontsize=9, transform=axes.transAxes)
    axes.set_title(heading, fontsize=9)
    figure.savefig(path, dpi=150)


def critical_difference_over_datasets(by_dataset: dict, variant: str, lookup: str, out_dir: str | os.PathLike,
                                      alpha: float = 0.05) -> dict:
    """Write critical_difference_<variant>_<lookup>.png / .json (+ _per_class.csv) for one feature set."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"critical_difference_{variant}_{lookup}"
    datasets = [d for d in DATASETS if d in by_dataset] + sorted(set(by_dataset) - set(DATASETS))
    keys = sorted({k for entries in by_dataset.values() for k in entries})
    left_out, common = {}, []
    for key in keys:
        reasons = [f"not run on {d}" if key not in by_dataset[d] else f"{d}: {by_dataset[d][key].missing}"
                   for d in datasets if key not in by_dataset[d] or by_dataset[d][key].accuracy is None]
        if reasons:
            left_out[f"{key[0]} ({key[1]})"] = "; ".join(reasons)
        else:
            common.append(key)
    labels = _labels(common)
    heading = f"{FEATURE_SETS.get(variant, variant)} ({variant}), word vectors: {lookup}; datasets: {', '.join(datasets)}"
    record = {"feature_set": variant, "text_lookup": lookup, "datasets": datasets, "blocks": BLOCKS,
              "methods": {labels[k]: {"experiment": k[1], "row": by_dataset[datasets[0]][k].row}
                          for k in common},
              "left_out": left_out, "alpha": alpha}
    reason = None
    if len(common) < 2:
        reason = (f"{len(common)} method(s) were run on every dataset given ({', '.join(datasets)}); a Friedman test "
                  "needs at least two")
    else:
        table = pd.DataFrame({labels[k]: pd.concat([by_dataset[d][k].accuracy for d in datasets]) for k in common})
        table.index.name = "dataset/class"
        table.to_csv(out / f"{stem}_per_class.csv")
        try:
            result = friedman_nemenyi(table, alpha)
        except ValueError as error:  # e.g. fewer than two classes scored by every method
            reason = str(error)
    if reason is not None:
        log.warning("critical-difference diagram %s: %s", stem, reason)
        record.update(status="not drawn", reason=reason)
        _reason_figure(out / f"{stem}.png", heading, reason + (f". Left out: {left_out}" if left_out else ""))
        write_json(out / f"{stem}.json", record)
        return record
    scored = table.drop(index=result["dropped_blocks"])
    blocks_per_dataset = {d: int(scored.index.str.startswith(f"{d}/").sum()) for d in datasets}
    seen = frozenset().union(*(by_dataset[d][common[0]].seen for d in datasets))
    seen_blocks = {d: int(sum(i in seen for i in scored.index if i.startswith(f"{d}/"))) for d in datasets}
    record.update(
        status="drawn", average_ranks={k: float(v) for k, v in result["average_ranks"].items()},
        friedman_statistic=result["statistic"], p_value=result["p_value"],
        critical_difference=result["critical_difference"], n_blocks=result["n_blocks"],
        blocks_per_dataset=blocks_per_dataset, seen_blocks_per_dataset=seen_blocks,
        dropped_blocks=result["dropped_blocks"],
        nemenyi_p_values=result["pairwise_p_values"].to_dict(),
    )
    counts = ", ".join(f"{d} {n}: {seen_blocks[d]} seen, {n - seen_blocks[d]} unseen"
                       for d, n in blocks_per_dataset.items())
    caption = (f"{heading}. Blocks: N = {result['n_blocks']} test classes pooled ({counts}); each class's calibrated "
               "GZSL accuracy in the reported row (audio-visual; video for the classical baselines), averaged over "
               "the seeds present. This ranks per-class accuracy, every class weighing the same, seen or unseen; "
               f"it does not test the table's HM. Friedman p = {result['p_value']:.3g}; Nemenyi CD = "
               f"{result['critical_difference']:.3f} (alpha = {alpha}).")
    if left_out:
        caption += " Left out: " + "; ".join(f"{m}: {r}" for m, r in left_out.items()) + "."
    plot_critical_difference(result, out / f"{stem}.png", title=textwrap.fill(caption, 110))
    write_json(out / f"{stem}.json", record)
    log.info("critical-difference diagram %s: %d methods, N = %d, Friedman p = %.3g, CD = %.3f", stem,
             len(common), result["n_blocks"], result["p_value"], result["critical_difference"])
    return record


def write_critical_difference_diagrams(result_dirs: list[str | os.PathLike], out_dir: str | os.PathLike) -> list[str]:
    """One diagram per feature set (and text lookup) among the result folders; returns the files' stems."""
    stems = []
    for (variant, lookup), by_dataset in sorted(_collect(result_dirs).items()):
        critical_difference_over_datasets(by_dataset, variant, lookup, out_dir)
        stems.append(f"critical_difference_{variant}_{lookup}")
    return stems
