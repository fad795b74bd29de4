"""The paper's reported numbers (Mazumder et al., WACV 2021, Tables 1-4), row by row.

Kept apart from the code that lays out the tables, so that editing the layout
does not re-run the figures (which read Table 1's rows) and vice versa.
"""

from __future__ import annotations

from dataclasses import dataclass

from avgzsl.reporting.names import display_name


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

# every experiment some table of the paper has a row for; others are shown after the paper's rows
PAPER_EXPERIMENTS = frozenset(r.experiment for t in (TABLE1, TABLE2, TABLE3, TABLE4) for r in t)


def extra_row_label(experiment: str, method: str | None, label: str | None = None) -> str:
    """The Model cell of an experiment outside the paper's rows: its name, or the method's own label when the name
    is just its model kind or that label (experiment `avca` of `model.kind: avca` shows as AVCA, experiment `dem`
    of a user's method labelled DEM as DEM); a baseline's name in the tables' spelling likewise."""
    if label and experiment.lower() in (str(method).lower(), label.lower()):
        return label
    method = display_name(method or experiment)
    return method if experiment.upper() == method.upper() else experiment
