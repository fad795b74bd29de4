"""The benchmark table in AVCA-GZSL's layout: methods x datasets, per feature set, ours beside their numbers.

Ours: for each result folder of an AVCA-GZSL benchmark run (`<results>/<dataset>/<variant>-<text_lookup>`,
holding `avca_benchmark.json` and `runs/<experiment>/summary.json`), S, U, HM calibrated (β chosen on the
stage-1 val split, as their protocol does) and ZSL, mean ± sample std over seeds, of the audio-visual ("both")
row, or the video row for a model without one (the classical baselines). Published: GZSL HM and ZSL from
AVCA-GZSL's README ("Results": SeLaVi features = our `main`, VGGish/C3D = our `cls`); the README gives no S
and U. Their numbers were computed with their word-vector pairing (`text_lookup: avca_compat`).
`avgzsl benchmark-table` also writes, per feature set, the critical-difference diagram over all datasets given
(`avgzsl.reporting.benchmark_significance`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from avgzsl.evaluation.summary import SUMMARY_FILE, read_summary
from avgzsl.reporting.avca_published import DATASETS, FEATURE_SETS, PUBLISHED, method_name, reported_modality
from avgzsl.reporting.names import scoring_text
from avgzsl.reporting.tables import write_table


def _cell(summary: dict, key: str) -> str:
    entry = summary["summary"].get(key)
    if entry is None or entry["mean"] is None or not np.isfinite(entry["mean"]):  # null: undefined over the seeds
        return ""
    mean, std = 100 * entry["mean"], 100 * entry["std"]
    return f"{mean:.2f} ± {std:.2f}" if entry["n"] > 1 else f"{mean:.2f}"


def read_result(result_dir: str | os.PathLike) -> tuple[dict, list[dict]]:
    """A benchmark run's record (avca_benchmark.json) and its experiments' summary.json, sorted by experiment."""
    result_dir = Path(result_dir)
    record_path = result_dir / "avca_benchmark.json"
    if not record_path.is_file():
        raise FileNotFoundError(f"{record_path}: not found; is {result_dir} the result folder of an AVCA-GZSL "
                                "benchmark run?")
    summaries = [read_summary(path) for path in sorted((result_dir / "runs").glob(f"*/{SUMMARY_FILE}"))]
    if not summaries:
        raise FileNotFoundError(f"{result_dir / 'runs'}: no <experiment>/{SUMMARY_FILE}")
    return json.loads(record_path.read_text()), summaries


def row_setting(summary: dict, text_lookup: str) -> str:
    """What one of our rows used: the preset (or classical baseline), the protocol, how the reported row was
    scored and the text pairing, from the experiment's summary.json (its spec and first seed's metrics)."""
    spec, runs = summary.get("spec", {}), summary.get("runs") or [{}]
    modality = reported_modality(summary)
    trained = f"baseline {spec['baseline']}" if "baseline" in spec else f"preset {spec.get('preset', 'not recorded')}"
    scoring = scoring_text(runs[0]) or f"the {modality} row"
    return (f"{trained}, protocol {runs[0].get('protocol', 'not recorded')}, {scoring}, word vectors "
            f"{text_lookup}")


def _our_rows(result_dir: Path) -> tuple[dict, list[dict]]:
    record, summaries = read_result(result_dir)
    rows = []
    for summary in summaries:
        modality = reported_modality(summary)
        rows.append({
            "experiment": summary["experiment"], "method": method_name(summary),
            "setting": row_setting(summary, record["text_lookup"]),
            "S": _cell(summary, f"classification/{modality}/calibrated/S"),
            "U": _cell(summary, f"classification/{modality}/calibrated/U"),
            "HM": _cell(summary, f"classification/{modality}/calibrated/HM"),
            "ZSL": _cell(summary, f"classification/{modality}/beta0/ZSL"),
        })
    return record, rows


def benchmark_tables(result_dirs: list[str | os.PathLike]) -> dict[str, pd.DataFrame]:
    """One frame per feature set (and text lookup): rows methods, per dataset S / U / HM / ZSL and theirs."""
    ours: dict[tuple[str, str], dict[str, list[dict]]] = {}
    for folder in result_dirs:
        record, rows = _our_rows(Path(folder))
        key = (record["variant"], record["text_lookup"])
        if record["benchmark"] in ours.setdefault(key, {}):
            raise ValueError(f"{folder}: a second result folder for {record['benchmark']} ({key[0]}, text "
                             f"{key[1]}); give one per benchmark and feature set")
        ours[key][record["benchmark"]] = rows
    frames = {}
    for (variant, lookup), by_dataset in sorted(ours.items()):
        published = PUBLISHED[variant]
        our_methods = [r["method"] for d in DATASETS for r in by_dataset.get(d, [])]
        experiments = {}
        for d in DATASETS:
            for r in by_dataset.get(d, []):
                experiments.setdefault((r["method"], r["experiment"]), {})[d] = r
        keys = sorted(experiments, key=lambda k: (list(published).index(k[0]) if k[0] in published else 99, k))
        keys += [(m, "") for m in published if m not in our_methods]
        table = []
        for method, experiment in keys:
            row = {"method": method, "experiment": experiment}
            for i, d in enumerate(DATASETS):
                mine = experiments.get((method, experiment), {}).get(d, {})
                row.update({f"{d} {m}": mine.get(m, "") for m in ("S", "U", "HM", "ZSL")})
                hm, zsl = published.get(method, (None, None))
                row[f"{d} HM (AVCA-GZSL)"] = f"{hm[i]:.2f}" if hm else ""
                row[f"{d} ZSL (AVCA-GZSL)"] = f"{zsl[i]:.2f}" if zsl else ""
            table.append(row)
        frame = pd.DataFrame(table)
        frame.attrs["settings"] = _settings_lines({k: experiments[k] for k in keys if k in experiments})
        frames[f"avca_benchmarks_{variant}_{lookup}"] = frame
    return frames


def _settings_lines(experiments: dict[tuple[str, str], dict[str, dict]]) -> list[str]:
    """One line per row of ours, in the table's order: what it used, per dataset where the datasets' runs differ."""
    lines = []
    for (method, experiment), by_dataset in experiments.items():
        settings: dict[str, list[str]] = {}
        for dataset, row in by_dataset.items():
            settings.setdefault(row["setting"], []).append(dataset)
        for setting, datasets in settings.items():
            where = "" if len(settings) == 1 else f" on {', '.join(datasets)}"
            lines.append(f"{method} ({experiment}){where}: {setting}.")
    return lines


def write_benchmark_tables(result_dirs: list[str | os.PathLike], out_dir: str | os.PathLike) -> list[str]:
    """The tables (CSV + Markdown); returns the names written. (`avgzsl benchmark-table` also draws the
    critical-difference diagrams: `avgzsl.reporting.benchmark_significance`.)"""
    names = []
    for name, frame in benchmark_tables(result_dirs).items():
        _, _, variant, lookup = name.split("_", 3)
        note = (f"{FEATURE_SETS[variant]} ({variant}); word vectors: {lookup}. Ours: calibrated S, U, HM (β chosen "
                "on stage-1 val) and ZSL of the audio-visual row (video for the classical baselines), mean ± sample "
                "std over seeds (%). AVCA-GZSL: GZSL HM and ZSL from their README, computed with their "
                "word-vector pairing (text_lookup: avca_compat), which gives many classes another class's vector.")
        if frame.attrs.get("settings"):
            note += "\n\nRows of ours, as run:\n\n" + "\n".join(f"- {line}" for line in frame.attrs["settings"])
        write_table(frame, name, out_dir, note)
        names.append(name)
    return names
