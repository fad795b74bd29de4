"""Result tables laid out like the paper's Tables 1-4, with the paper's numbers in their own columns.

A row names an experiment (a key of the workflow config's `experiments`) and a test
modality; its numbers are the mean ± sample standard deviation (ddof = 1) over that
experiment's seeds, in percent.
Experiments the paper has no row for are appended under their own name, so a
user's new system shows up beside the paper's. Rows whose experiment did not run
show the paper's numbers and empty cells of ours.

On an AVCA-GZSL benchmark (VGGSound-, UCF-, ActivityNet-GZSL) the AudioSetZSL paper's numbers would stand
beside results on another dataset, so there the reference columns are AVCA-GZSL's published HM and ZSL for that
benchmark and feature set (`avgzsl.reporting.avca_published`), in Table 1 only (they published no S, U, retrieval or
ablation numbers), and rows of experiments that did not run are left out.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from avgzsl.reporting.avca_published import DATASETS as AVCA_BENCHMARKS
from avgzsl.reporting.avca_published import FEATURE_SETS, method_name, published_hm_zsl
from avgzsl.reporting.names import both_label, run_fusion, scoring_text
from avgzsl.reporting.paper_tables import (
    PAPER_EXPERIMENTS,
    TABLE1,
    TABLE2,
    TABLE3,
    TABLE3_FLAGS,
    TABLE4,
    TABLE4_FLAGS,
    Row,
    extra_row_label,
)

RETRIEVAL_ARROW = {"audio": "T→A", "video": "T→V", "both": "T→AV"}


def _stat(summary: dict, key: str) -> tuple[float, float] | None:
    entry = summary.get(key)
    if entry is None or entry["mean"] is None:  # null: undefined over the seeds (no clip to score it on)
        return None
    return 100 * entry["mean"], 100 * entry["std"]


def _fmt(stat: tuple[float, float] | None, n: int) -> str:
    if stat is None or not np.isfinite(stat[0]):
        return ""
    return f"{stat[0]:.2f} ± {stat[1]:.2f}" if n > 1 else f"{stat[0]:.2f}"


def _cells(summary: dict | None, task: str, modality: str) -> dict[str, str]:
    if summary is None:
        return {}
    n = len(summary["runs"])
    s = summary["summary"]
    if task == "classification":
        cells = {m: _fmt(_stat(s, f"classification/{modality}/beta0/{m}"), n) for m in ("S", "U", "HM")}
        cells.update({f"{m} (calibrated)": _fmt(_stat(s, f"classification/{modality}/calibrated/{m}"), n)
                      for m in ("S", "U", "HM")})
        cells["ZSL"] = _fmt(_stat(s, f"classification/{modality}/beta0/ZSL"), n)
        return cells
    return {m: _fmt(_stat(s, f"retrieval/{modality}/{m}"), n) for m in ("S", "U", "HM")}


def table_protocol(summaries: dict[str, dict]) -> str:
    """"avca" when every run that records its protocol ran AVCA-GZSL's (`train.protocol: avca`), else "paper"."""
    protocols = {r["protocol"] for s in summaries.values() if s is not None for r in s["runs"] if "protocol" in r}
    return "avca" if protocols == {"avca"} else "paper"


def _row_label(label: str, modality: str, summary: dict | None) -> str:
    """The Model cell: a "both" row says how it was fused (sum, mean, attention); AVCA scored by its video
    branch says so on all three rows."""
    fusion = run_fusion(summary) if summary is not None else None
    return both_label(label, fusion) if modality == "both" or fusion == "video_branch" else label


def _columns(task: str, flags: tuple[str, ...], published: tuple[str, ...], paper: bool, avca: bool) -> list[str]:
    """Column order: under AVCA-GZSL's protocol the calibrated numbers lead (it never reports beta = 0) and the
    beta = 0 ones follow, marked; their published HM (ZSL) stands beside our calibrated HM (ZSL)."""
    head = ["Model", *flags, "Test"]
    if task != "classification":
        return [*head, "S", "U", "HM", *(["S (paper)", "U (paper)", "HM (paper)"] if paper else []), "experiment"]
    hm_theirs, zsl_theirs = ([published[0]], [published[1]]) if published else ([], [])
    calibrated = ["S (calibrated)", "U (calibrated)", "HM (calibrated)", *hm_theirs, "ZSL", *zsl_theirs]
    beta0 = [f"{m} (β = 0)" for m in ("S", "U", "HM")] if avca else ["S", "U", "HM"]
    paper_cols = ["S (paper)", "U (paper)", "HM (paper)"] if paper else []
    return [*head, *((calibrated + beta0) if avca else (beta0 + calibrated)), *paper_cols, "experiment"]


def _table(rows: list[Row], summaries: dict[str, dict], task: str, flags: tuple[str, ...] = (),
           extra: bool = False, benchmark: tuple[str, str] | None = None, protocol: str = "paper") -> pd.DataFrame:
    """One table; `benchmark` = (AVCA-GZSL benchmark, feature set) puts their published numbers in place of the
    paper's; `protocol` "avca" leads with the calibrated columns."""
    published = ("HM (AVCA-GZSL)", "ZSL (AVCA-GZSL)") if benchmark and task == "classification" and not flags else ()
    out = []
    for row in rows:
        summary = summaries.get(row.experiment)
        if benchmark and summary is None:
            continue
        test = RETRIEVAL_ARROW[row.modality] if task == "retrieval" else row.modality
        record = {"Model": _row_label(row.label, row.modality, summary), **dict(zip(flags, row.flags)),
                  "Test": test, "experiment": row.experiment}
        record.update(_cells(summary, task, row.modality))
        if benchmark is None:
            record.update({f"{m} (paper)": f"{v:.2f}" for m, v in zip(("S", "U", "HM"), row.paper)})
        elif published:
            record.update(zip(published, published_hm_zsl(summary, row.modality, *benchmark)))
        out.append(record)
    if extra:  # experiments outside the paper's layout, every modality they report
        for name, summary in summaries.items():
            if name in PAPER_EXPERIMENTS or summary is None:
                continue
            reported = summary["runs"][0].get(task, {})
            for modality in (m for m in RETRIEVAL_ARROW if m in reported):  # audio, video, both: the paper's order
                test = RETRIEVAL_ARROW[modality] if task == "retrieval" else modality
                run = summary["runs"][0]
                label = extra_row_label(name, run.get("model") or method_name(summary), run.get("label"))
                record = {"Model": _row_label(label, modality, summary), "Test": test, "experiment": name,
                          **_cells(summary, task, modality)}
                if published:
                    record.update(zip(published, published_hm_zsl(summary, modality, *benchmark)))
                out.append(record)
    avca = protocol == "avca" and task == "classification"
    columns = _columns(task, flags, published, benchmark is None, avca)
    frame = pd.DataFrame(out)
    if avca:
        frame = frame.rename(columns={m: f"{m} (β = 0)" for m in ("S", "U", "HM")})
    for c in columns:
        if c not in frame:
            frame[c] = ""
    return frame[columns].fillna("")


def benchmark_of(dataset: str, variant: str | None) -> tuple[str, str] | None:
    """(benchmark, feature set) when `dataset` is an AVCA-GZSL benchmark, else None (AudioSetZSL's paper columns)."""
    if dataset not in AVCA_BENCHMARKS:
        return None
    if variant not in FEATURE_SETS:
        raise ValueError(f"{dataset}: the tables need the feature set (one of {sorted(FEATURE_SETS)}), got {variant!r}")
    return dataset, variant


def build_tables(summaries: dict[str, dict], dataset: str = "", variant: str | None = None) -> dict[str, pd.DataFrame]:
    bench, protocol = benchmark_of(dataset, variant), table_protocol(summaries)
    return {
        "table1_classification": _table(TABLE1, summaries, "classification", extra=True, benchmark=bench,
                                        protocol=protocol),
        "table2_retrieval": _table(TABLE2, summaries, "retrieval", extra=True, benchmark=bench),
        "table3_cmd_ablation": _table(TABLE3, summaries, "classification", TABLE3_FLAGS, benchmark=bench,
                                      protocol=protocol),
        "table4_ct_ablation": _table(TABLE4, summaries, "classification", TABLE4_FLAGS, benchmark=bench,
                                     protocol=protocol),
    }


def coverage_table(manifest: pd.DataFrame, status: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per split and class: clips listed, and clips with audio / video features (ok) and why others lack them."""
    table = manifest[["clip_id", "class", "split"]].copy()
    for modality, st in status.items():
        ok = set(st.loc[st["status"] == "ok", "clip_id"])
        table[f"{modality}_ok"] = table["clip_id"].isin(ok)
    grouped = table.groupby(["split", "class"], sort=True)
    out = grouped.size().rename("listed").to_frame()
    for modality in status:
        out[f"{modality} ok"] = grouped[f"{modality}_ok"].sum()
        out[f"{modality} %"] = (100 * out[f"{modality} ok"] / out["listed"]).round(1)
    out = out.reset_index()
    totals = out.groupby("split", sort=True).sum(numeric_only=True).reset_index()
    totals["class"] = "(all)"
    for modality in status:
        totals[f"{modality} %"] = (100 * totals[f"{modality} ok"] / totals["listed"]).round(1)
    return pd.concat([totals, out], ignore_index=True)[out.columns]


def to_markdown(frame: pd.DataFrame, title: str) -> str:
    shown = frame.drop(columns=["experiment"], errors="ignore").astype(str)
    head = "| " + " | ".join(shown.columns) + " |"
    rule = "|" + "|".join("---" for _ in shown.columns) + "|"
    body = ["| " + " | ".join(v.replace("|", "\\|") for v in row) + " |" for row in shown.itertuples(index=False)]
    return f"### {title}\n\n" + "\n".join([head, rule, *body]) + "\n"


TITLES = {
    "table1_classification": "Table 1: generalized zero-shot classification, mean class accuracy (%)",
    "table2_retrieval": "Table 2: generalized zero-shot retrieval, mAP (%)",
    "table3_cmd_ablation": "Table 3: ablation of L_CMD (AVGZSLNet, both modalities), mean class accuracy (%)",
    "table4_ct_ablation": "Table 4: ablation of L_CT (AVGZSLNet, both modalities), mean class accuracy (%)",
    "coverage": "Coverage: clips listed and clips with features, per split and class",
}


def write_table(frame: pd.DataFrame, name: str, out_dir: str | Path, note: str = "") -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out / f"{name}.csv", index=False)
    (out / f"{name}.md").write_text(to_markdown(frame, TITLES.get(name, name)) + (f"\n{note}\n" if note else ""))


MISSING_MODALITY_NOTES = {
    "exclude": "A clip lacking a modality is left out of that modality's row (train.missing_modality = exclude); "
               "the both row scores a clip by the modalities it has. metrics.json's `scored` counts the clips "
               "each row scored, `coverage` the clips with each modality.",
    "other_modality": "A clip lacking a modality is scored by the modality it has, also in the other modality's "
                      "row (train.missing_modality = other_modality).",
}


def table_note(summaries: dict[str, dict], dataset: str, variant: str | None = None) -> str:
    """The notes under every result table: what the numbers are, the spread and the missing-modality rule."""
    seeds = sorted({len(s["runs"]) for s in summaries.values() if s is not None})
    runs = [r for s in summaries.values() if s is not None for r in s["runs"]]
    deep = [r for r in runs if "epochs" in r] or runs  # classical baselines score only clips with their modality
    policies = sorted({r.get("missing_modality", "other_modality") for r in deep})
    lines = [
        f"Dataset: {dataset}. Ours: mean ± sample standard deviation (ddof = 1) over the seeds "
        f"({'/'.join(map(str, seeds)) or 'no'} per experiment; one seed: mean only), {_beta_note(summaries)} "
        "Each experiment's summary.json also holds the 95 % t-interval half-width of the mean (`ci95`). "
        + _reference_note(dataset, variant),
        scoring_note(summaries),
        *(MISSING_MODALITY_NOTES[p] for p in policies if p in MISSING_MODALITY_NOTES),
    ]
    return "\n\n".join(line for line in lines if line)


def _beta_note(summaries: dict[str, dict]) -> str:
    if table_protocol(summaries) == "avca":
        return ("AVCA-GZSL's protocol (train.protocol: avca): the epoch is chosen on calibrated val HM and every "
                "row is tested with one beta, the mean of the audio, video and both val-best betas, so the "
                "calibrated columns lead; the beta = 0 columns, which that protocol never reports, follow.")
    return "beta = 0 unless marked calibrated (beta chosen on val, per row)."


def scoring_note(summaries: dict[str, dict]) -> str:
    """How each experiment's rows were scored (its runs' `both_fusion`), grouped by scoring; empty when no run
    recorded it. Names the AVCA scoring, whose video_branch gives three identical rows."""
    groups: dict[str, list[str]] = {}
    for name, summary in summaries.items():
        runs = summary.get("runs") if summary else None
        text = scoring_text(runs[0]) if runs else None
        if text is not None:
            groups.setdefault(text, []).append(name)
    if not groups:
        return ""
    parts = [f"{', '.join(names)}: {text}" for text, names in sorted(groups.items())]
    return "Scoring (each experiment's metrics.json `both_fusion`): " + "; ".join(parts) + "."


def _reference_note(dataset: str, variant: str | None) -> str:
    if benchmark_of(dataset, variant) is None:
        return "Paper: as reported on AudioSetZSL."
    return (f"AVCA-GZSL: their published GZSL HM and ZSL on {dataset} with {FEATURE_SETS[variant]} ({variant}), "
            "beside the row their benchmark table reports (audio-visual; video for the classical baselines), "
            "computed with their word-vector pairing (text_lookup: avca_compat); they publish no S, U, retrieval or "
            "ablation numbers. `avgzsl benchmark-table` sets all three benchmarks side by side.")


def write_result_tables(summaries: dict[str, dict], out_dir: str | Path, dataset: str,
                        variant: str | None = None) -> None:
    """Tables 1-4 (CSV + Markdown) from experiment summaries ({"runs": [metrics], "summary": ...} each);
    `variant` (main | cls) is the feature set of an AVCA-GZSL benchmark `dataset`."""
    note = table_note(summaries, dataset, variant)
    for name, frame in build_tables(summaries, dataset, variant).items():
        write_table(frame, name, out_dir, note)


def write_all_tables(*, summaries: list[str], manifest: str, status: dict[str, list[str]], out_dir: str,
                     dataset: str, variant: str | None = None) -> None:
    """The workflow's table step: read every experiment summary and status table, write CSV + Markdown."""
    from avgzsl.evaluation.summary import read_summary
    from avgzsl.formats.shards import read_status_table

    loaded = {}
    for path in summaries:
        summary = read_summary(path)
        loaded[summary["experiment"]] = summary
    write_result_tables(loaded, out_dir, dataset, variant)
    manifest_table = pd.read_csv(manifest, dtype={"clip_id": str})
    status_tables = {
        m: pd.concat([read_status_table(p) for p in paths]) if paths else pd.DataFrame(
            {"clip_id": manifest_table["clip_id"], "status": "ok", "reason": ""})
        for m, paths in status.items()
    }
    write_table(coverage_table(manifest_table, status_tables), "coverage", out_dir,
                "Clips without features are listed with their reasons in the shards' status tables.")
