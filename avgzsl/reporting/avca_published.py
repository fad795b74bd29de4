"""AVCA-GZSL's published results (their README, "Results") and which of our result rows they stand beside.

Data apart from layout: the benchmark table (`avgzsl.reporting.avca_table`) and the per-dataset Tables 1-4 of a benchmark
run (`avgzsl.reporting.tables`) both read it. Their README gives GZSL HM and ZSL per method, dataset and feature set
(SeLaVi features = our `main`, VGGish/C3D = our `cls`), computed with their word-vector pairing
(`text_lookup: avca_compat`); no S, U, retrieval or ablation numbers.
"""

from __future__ import annotations

from avgzsl.reporting.names import DISPLAY_NAMES, display_name

DATASETS = ("vggsound-gzsl", "ucf-gzsl", "activitynet-gzsl")
# AVCA-GZSL README, "Results": (HM, ZSL) per feature set, method, dataset (VGGSound, UCF, ActivityNet); methods
# spelled as `display_name` spells them, so our rows find theirs
PUBLISHED = {
    "main": {
        "ALE": ((0.53, 23.66, 3.94), (5.48, 16.32, 7.90)),
        "SJE": ((2.15, 26.50, 5.57), (4.06, 18.93, 7.08)),
        "DEVISE": ((2.08, 23.56, 4.91), (5.59, 16.09, 8.53)),
        "APN": ((5.11, 20.61, 7.27), (4.49, 16.44, 6.34)),
        "f-vaegan-d2": ((1.77, 11.37, 2.87), (1.91, 11.11, 2.40)),
        "CJME": ((6.17, 12.48, 5.12), (5.16, 8.29, 5.84)),
        "AVGZSLNet": ((5.83, 18.05, 6.44), (5.28, 13.65, 5.40)),
        "AVCA": ((6.31, 27.15, 12.13), (6.00, 20.01, 9.13)),
    },
    "cls": {
        "ALE": ((3.23, 35.37, 1.55), (4.97, 32.30, 6.16)),
        "SJE": ((4.69, 24.28, 2.35), (3.22, 32.47, 4.35)),
        "DEVISE": ((3.64, 31.98, 0.33), (4.72, 35.48, 5.84)),
        "APN": ((6.29, 18.35, 3.58), (6.50, 29.69, 3.97)),
        "CJME": ((3.68, 28.65, 7.32), (3.72, 29.01, 6.29)),
        "AVGZSLNet": ((5.26, 36.51, 8.30), (4.81, 31.51, 6.39)),
        "AVCA": ((8.31, 41.34, 9.92), (6.91, 37.72, 7.58)),
    },
}
FEATURE_SETS = {"main": "SeLaVi features", "cls": "VGGish/C3D features"}


def method_name(summary: dict) -> str:
    """The method of one of our experiments as every table prints it: its model kind or baseline name through
    `display_name` (AVGZSLNet, CJME, AVCA, DEVISE, ...), or a method's own recorded label (a user's method)."""
    spec = summary.get("spec", {})
    run = summary["runs"][0] if summary.get("runs") else {}
    kind = spec.get("baseline") or run.get("model")
    if run.get("label") and str(kind).lower() not in DISPLAY_NAMES:
        return run["label"]
    return display_name(kind or summary["experiment"])


def reported_modality(summary: dict) -> str:
    """The row the table reports: audio-visual ("both"), or video for a model without one (classical baselines)."""
    return "both" if "classification/both/beta0/HM" in summary["summary"] else "video"


def published_hm_zsl(summary: dict, modality: str, benchmark: str, variant: str) -> tuple[str, str]:
    """Their (HM, ZSL) as printed, for our row `modality` of `summary`'s experiment on `benchmark`: filled only on
    the row the benchmark table reports for a method they published, else ("", "")."""
    hm_zsl = PUBLISHED[variant].get(method_name(summary))
    if hm_zsl is None or modality != reported_modality(summary):
        return "", ""
    i = DATASETS.index(benchmark)
    return f"{hm_zsl[0][i]:.2f}", f"{hm_zsl[1][i]:.2f}"
