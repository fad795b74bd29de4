"""Result tables laid out like the paper's Tables 1-4, with the paper's numbers in their own columns.

A row names an experiment (a key of the workflow config's `experiments`) and a test
modality; its numbers are the mean ± sample standard deviation (ddof = 1) over that
experiment's seeds, in percent.
Experiments the paper has no row for are appended under their own name, so a
user's new system shows up beside the paper's. Rows whose experiment did not run
show the paper's numbers and empty cells of ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Row:
    label: str  # as printed in the paper
    experiment: str  # config experiment name that produces it
    modality: str  # audio | video | both
    paper: tuple[float, float, float]  # S, U, HM as reported (%)
    flags: tuple[str, ...] = ()  # ablation switches (Y/N), Tables 3-4


TABLE1 = [  # generalized zero-shot classification, mean class accuracy (%)
    Row("audio only model", "audio_only", "audio", (28.35, 18.35, 22.22)),
    Row("CJME", "cjme", "audio", (25.58, 20.30, 22.64)),
    Row("AVGZSLNet", "avgzslnet", "audio", (33.29, 20.43, 25.32)),
    Row("video only model", "video_only", "video", (43.27, 27.11, 33.34)),
    Row("CONSE", "conse", "video", (48.50, 19.60, 27.90)),
    Row("DEVISE", "devise", "video", (39.80, 26.00, 31.50)),
    Row("SAE", "sae", "video", (29.30, 19.30, 23.20)),
    Row("ESZSL", "eszsl", "video", (33.80, 19.00, 24.30)),
    Row("ALE", "ale", "video", (47.90, 25.20, 33.00)),
    Row("CJME", "cjme", "video", (41.53, 28.76, 33.99)),
    Row("AVGZSLNet", "avgzslnet", "video", (48.05, 30.71, 37.47)),
    Row("audio-video concat model", "av_concat", "both", (45.83, 27.91, 34.70)),
    Row("CJME (eq wt)", "cjme", "both", (30.29, 31.30, 30.79)),
    Row("AVGZSLNet (eq wt)", "avgzslnet", "both", (46.04, 33.80, 38.98)),
    Row("CJME (w/ attn)", "cjme_attn", "both", (41.07, 29.58, 34.39)),
    Row("AVGZSLNet (w/ attn)", "avgzslnet_attn", "both", (50.96, 32.73, 39.86)),
]

TABLE2 = [  # generalized zero-shot retrieval, mean average precision (%)
    Row("pre-trained model", "pretrained", "audio", (3.83, 1.66, 2.32)),
    Row("GCCA", "gcca", "audio", (49.84, 2.39, 4.56)),
    Row("audio only model", "audio_only", "audio", (43.16, 3.34, 6.20)),
    Row("CJME", "cjme", "audio", (48.24, 3.32, 6.21)),
    Row("AVGZSLNet", "avgzslnet", "audio", (51.55, 3.85, 7.17)),
    Row("pre-trained model", "pretrained", "video", (3.83, 2.53, 3.05)),
    Row("GCCA", "gcca", "video", (57.67, 3.54, 6.67)),
    Row("video only model", "video_only", "video", (48.62, 5.25, 9.47)),
    Row("CJME", "cjme", "video", (59.39, 5.55, 10.15)),
    Row("AVGZSLNet", "avgzslnet", "video", (62.20, 6.39, 11.60)),
    Row("CJME (eq wt)", "cjme", "both", (65.45, 5.40, 9.97)),
    Row("AVGZSLNet (eq wt)", "avgzslnet", "both", (72.25, 6.91, 12.61)),
    Row("CJME (w/ attn)", "cjme_attn", "both", (62.97, 5.67, 10.41)),
    Row("AVGZSLNet (w/ attn)", "avgzslnet_attn", "both", (68.94, 7.08, 12.84)),
]

TABLE3_FLAGS = ("L_CT", "L_REC", "L_CTA", "L_CTV")
TABLE3 = [  # ablation of the cross-modal decoder loss, AVGZSLNet (eq wt), classification
    Row("without L_REC", "avgzslnet_no_rec", "both", (42.76, 32.88, 37.17), ("Y", "N", "Y", "Y")),
    Row("without L_CTA", "avgzslnet_no_cta", "both", (46.40, 31.84, 37.77), ("Y", "Y", "N", "Y")),
    Row("without L_CTV", "avgzslnet_no_ctv", "both", (45.87, 31.54, 37.38), ("Y", "Y", "Y", "N")),
    Row("full", "avgzslnet", "both", (46.04, 33.80, 38.98), ("Y", "Y", "Y", "Y")),
]

TABLE4_FLAGS = ("L_CMD", "L_TA", "L_AT", "L_TV", "L_VT")
TABLE4 = [  # ablation of the composite triplet loss
    Row("without L_TA", "avgzslnet_no_ta", "both", (48.91, 27.65, 35.33), ("Y", "N", "Y", "Y", "Y")),
    Row("without L_AT", "avgzslnet_no_at", "both", (44.28, 29.96, 35.74), ("Y", "Y", "N", "Y", "Y")),
    Row("without L_TV", "avgzslnet_no_tv", "both", (51.27, 28.54, 36.67), ("Y", "Y", "Y", "N", "Y")),
    Row("without L_VT", "avgzslnet_no_vt", "both", (45.91, 27.90, 34.71), ("Y", "Y", "Y", "Y", "N")),
    Row("full", "avgzslnet", "both", (46.04, 33.80, 38.98), ("Y", "Y", "Y", "Y", "Y")),
]

RETRIEVAL_ARROW = {"audio": "T→A", "video": "T→V", "both": "T→AV"}


def _stat(summary: dict, key: str) -> tuple[float, float] | None:
    entry = summary.get(key)
    return None if entry is None else (100 * entry["mean"], 100 * entry["std"])


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


PAPER_EXPERIMENTS = {r.experiment for t in (TABLE1, TABLE2, TABLE3, TABLE4) for r in t}


def _table(rows: list[Row], summaries: dict[str, dict], task: str, flags: tuple[str, ...] = (),
           extra: bool = False) -> pd.DataFrame:
    out = []
    for row in rows:
        test = RETRIEVAL_ARROW[row.modality] if task == "retrieval" else row.modality
        record = {"Model": row.label, **dict(zip(flags, row.flags)), "Test": test, "experiment": row.experiment}
        record.update(_cells(summaries.get(row.experiment), task, row.modality))
        record.update({f"{m} (paper)": f"{v:.2f}" for m, v in zip(("S", "U", "HM"), row.paper)})
        out.append(record)
    if extra:  # experiments outside the paper's layout, every modality they report
        for name, summary in summaries.items():
            if name in PAPER_EXPERIMENTS or summary is None:
                continue
            for modality in summary["runs"][0].get(task, {}):
                if modality not in RETRIEVAL_ARROW:
                    continue
                test = RETRIEVAL_ARROW[modality] if task == "retrieval" else modality
                out.append({"Model": name, "Test": test, "experiment": name, **_cells(summary, task, modality)})
    columns = ["Model", *flags, "Test", "S", "U", "HM"]
    if task == "classification":
        columns += ["S (calibrated)", "U (calibrated)", "HM (calibrated)", "ZSL"]
    columns += ["S (paper)", "U (paper)", "HM (paper)", "experiment"]
    frame = pd.DataFrame(out)
    for c in columns:
        if c not in frame:
            frame[c] = ""
    return frame[columns].fillna("")


def build_tables(summaries: dict[str, dict]) -> dict[str, pd.DataFrame]:
    return {
        "table1_classification": _table(TABLE1, summaries, "classification", extra=True),
        "table2_retrieval": _table(TABLE2, summaries, "retrieval", extra=True),
        "table3_cmd_ablation": _table(TABLE3, summaries, "classification", TABLE3_FLAGS),
        "table4_ct_ablation": _table(TABLE4, summaries, "classification", TABLE4_FLAGS),
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
    "table3_cmd_ablation": "Table 3: ablation of L_CMD (AVGZSLNet, eq wt, both modalities), mean class accuracy (%)",
    "table4_ct_ablation": "Table 4: ablation of L_CT (AVGZSLNet, eq wt, both modalities), mean class accuracy (%)",
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


def table_note(summaries: dict[str, dict], dataset: str) -> str:
    """The notes under every result table: what the numbers are, the spread and the missing-modality rule."""
    seeds = sorted({len(s["runs"]) for s in summaries.values() if s is not None})
    runs = [r for s in summaries.values() if s is not None for r in s["runs"]]
    deep = [r for r in runs if "epochs" in r] or runs  # classical baselines score only clips with their modality
    policies = sorted({r.get("missing_modality", "other_modality") for r in deep})
    lines = [
        f"Dataset: {dataset}. Ours: mean ± sample standard deviation (ddof = 1) over the seeds "
        f"({'/'.join(map(str, seeds)) or 'no'} per experiment; one seed: mean only), beta = 0 unless marked "
        "calibrated (beta chosen on val). Each experiment's summary.json also holds the 95 % t-interval "
        "half-width of the mean (`ci95`). Paper: as reported on AudioSetZSL.",
        *(MISSING_MODALITY_NOTES[p] for p in policies if p in MISSING_MODALITY_NOTES),
    ]
    return "\n\n".join(lines)


def write_result_tables(summaries: dict[str, dict], out_dir: str | Path, dataset: str) -> None:
    """Tables 1-4 (CSV + Markdown) from experiment summaries ({"runs": [metrics], "summary": ...} each)."""
    note = table_note(summaries, dataset)
    for name, frame in build_tables(summaries).items():
        write_table(frame, name, out_dir, note)


def write_all_tables(*, summaries: list[str], manifest: str, status: dict[str, list[str]], out_dir: str,
                     dataset: str) -> None:
    """The workflow's table step: read every experiment summary and status table, write CSV + Markdown."""
    import json

    from avgzsl.features import read_status_table

    loaded = {}
    for path in summaries:
        summary = json.loads(Path(path).read_text())
        loaded[summary["experiment"]] = summary
    write_result_tables(loaded, out_dir, dataset)
    manifest_table = pd.read_csv(manifest, dtype={"clip_id": str})
    status_tables = {
        m: pd.concat([read_status_table(p) for p in paths]) if paths else pd.DataFrame(
            {"clip_id": manifest_table["clip_id"], "status": "ok", "reason": ""})
        for m, paths in status.items()
    }
    write_table(coverage_table(manifest_table, status_tables), "coverage", out_dir,
                "Clips without features are listed with their reasons in the shards' status tables.")
