"""What the tables, figures and notes call a method and how its "both" row was scored: one spelling for all.

Table 1 (`avgzsl.reporting.tables`), the benchmark table (`avgzsl.reporting.avca_table`) and the
critical-difference diagrams all name a method by `display_name`, so a row reads the same everywhere
(AVGZSLNet, never AVGZSLNET in one table and AVGZSLNet in the other). A run's `both_fusion` (metrics.json,
written from `avgzsl.evaluation.scoring.both_fusion`) says how its "both" row was formed; `both_label` and
`fusion_text` turn it into a row label and a sentence.
"""

from __future__ import annotations

# the paper's and AVCA-GZSL's spellings, keyed by model kind or baseline name
DISPLAY_NAMES = {
    "avgzslnet": "AVGZSLNet", "cjme": "CJME", "avca": "AVCA", "ale": "ALE", "sje": "SJE", "devise": "DEVISE",
    "apn": "APN", "f-vaegan-d2": "f-vaegan-d2", "conse": "CONSE", "sae": "SAE", "eszsl": "ESZSL", "gcca": "GCCA",
}

# the label qualifier of a "both" row per fusion; "(eq wt)" is the paper's name for the mean
FUSION_LABELS = {"equal": "eq wt, mean", "sum": "sum", "attention": "w/ attn", "video_branch": "video branch"}
FUSION_TEXT = {
    "equal": "both = mean of the audio and video distances (the paper's eq wt)",
    "sum": "both = sum of the audio and video distances (AVCA-GZSL's protocol)",
    "attention": "both = attention-weighted mix of the audio and video distances",
    "video_branch": ("avca_scoring: video_branch, AVCA-GZSL's test: the video branch's distances reported as "
                     "audio, video and both (three identical rows)"),
}


def display_name(method: str | None) -> str:
    """A model kind or baseline as the tables print it: the paper's / AVCA-GZSL's spelling, else upper case."""
    method = str(method or "")
    return DISPLAY_NAMES.get(method.lower(), method.upper())


def run_fusion(summary: dict) -> str | None:
    """How the experiment's "both" row was scored (its first seed's `both_fusion`); None when not recorded
    (runs written before the field, models without separate audio and video rows)."""
    runs = summary.get("runs") or [{}]
    return runs[0].get("both_fusion")


def both_label(label: str, fusion: str | None) -> str:
    """`label` of a "both" row, its "(eq wt)" (the paper's spelling) replaced by what the fusion was, or the
    fusion appended; unchanged when the fusion is unknown."""
    if fusion not in FUSION_LABELS:
        return label
    qualifier = f"({FUSION_LABELS[fusion]})"
    for paper in ("(eq wt)", "(w/ attn)"):
        if label.endswith(paper):
            return label[: -len(paper)] + qualifier
    return f"{label} {qualifier}"


def fusion_text(fusion: str | None) -> str:
    return FUSION_TEXT.get(fusion, "both row's scoring not recorded (runs written before avgzsl recorded it)")


def scoring_text(run: dict) -> str | None:
    """How one run's rows were scored, as a sentence (its `both_fusion` and, for AVCA, `avca_scoring`); None for
    a run that records neither and is not AVCA (a classical baseline, a single-row model)."""
    fusion = run.get("both_fusion")
    if fusion is None and run.get("model") != "avca":  # an AVCA run that predates the record still says so
        return None
    text = fusion_text(fusion)
    if run.get("avca_scoring") == "per_modality":
        text = f"avca_scoring: per_modality, audio and video rows from their own branches, {text}"
    return text
