"""Class names given at run time, scored against clips with the evaluation's own scoring.

The clips' features and the names' word vectors become a FeatureSplit, and `model_scores`
(avgzsl.evaluation.scoring) gives the distances, the same call that wrote the run's scores.npz: a clip's
score for a class here is its saved test distance when clip and class were in the test split. Smaller is
closer. Calibration (`calibrated=True`) adds the run's beta for the row to the distance of every class the
model was trained on as seen, as calibrated stacking does in evaluation.

A name's vector follows the training rule (avgzsl_extractors.text.class_vectors): the whole name when the
vocabulary has it (also with spaces and hyphens joined by "_"), else the mean of its words' vectors; a name
none of whose words has a vector is an error naming it.
"""

from __future__ import annotations

import csv
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from avgzsl_extractors.stage_times import stage
from avgzsl_extractors.text import GLOVE_6B_50D, TextConfig, class_vectors, load_word_vectors

from avgzsl.evaluation.scoring import model_scores
from avgzsl.formats.feature_split import FeatureSplit
from avgzsl.formats.manifest import ClassTable
from avgzsl.inference.bundle import Bundle
from avgzsl.inference.clip_features import ClipFeatures

if TYPE_CHECKING:
    from gensim.models import KeyedVectors

log = logging.getLogger("avgzsl.inference")

PREDICT_COLUMNS = ("clip", "modality", "rank", "class", "score", "note")
SEARCH_COLUMNS = ("query", "modality", "rank", "clip", "score", "note")
ROWS = ("audio", "video", "both")


def parse_class_names(spec: str) -> list[str]:
    """Names from a file (one per line, or a class table with a `name` column) or a comma-separated list."""
    path = Path(spec)
    if path.is_file():
        lines = [line.strip() for line in path.read_text().splitlines()]
        if lines and lines[0].split("\t")[0].strip() == "name" and "\t" in lines[0]:
            lines = [line.split("\t")[0].strip() for line in lines[1:]]  # a class table: name<TAB>seen
    else:
        lines = [part.strip() for part in spec.split(",")]
    return _checked_names(lines, spec)


def class_names_from_text(text: str) -> list[str]:
    """Names typed by hand: a comma list, one per line, or both; never read as a file name (the page of
    `avgzsl serve` must not open files on the server by what a visitor types)."""
    return _checked_names([part.strip() for line in text.splitlines() for part in line.split(",")], text)


def _checked_names(lines: list[str], spec: str) -> list[str]:
    names = [n for n in lines if n]
    if not names:
        raise ValueError(f"no class names in {spec!r}")
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"class name(s) given twice: {duplicated}")
    return names


def bundle_word_vectors(bundle: Bundle, word_vectors: str | None = None) -> KeyedVectors:
    """The bundle's word-vector source, checked against its sha256 (`word_vectors`: where its file is, when
    it is not the packaged GloVe)."""
    text = bundle.settings["text"]
    source = text["source"]
    if source != GLOVE_6B_50D:
        if word_vectors is None:
            raise ValueError(f"the bundle's word vectors are the file {source!r}: give its path (--word-vectors)")
        source = word_vectors
    cfg = TextConfig(source=source, normalize=text["normalize"], sha256=text["sha256"], binary=text["binary"],
                     limit=text["limit"])
    return load_word_vectors(cfg)


def vectors_of(bundle: Bundle, kv: KeyedVectors, names: list[str]) -> torch.Tensor:
    """(C, D) vectors of `names` from `kv` (bundle_word_vectors), normalised as in training."""
    return torch.from_numpy(class_vectors(kv, names, normalize=bundle.settings["text"]["normalize"]))


@stage("class vectors")
def name_vectors(bundle: Bundle, names: list[str], word_vectors: str | None = None) -> torch.Tensor:
    """(C, D) vectors of `names` from the bundle's word-vector source, checked against its sha256."""
    return vectors_of(bundle, bundle_word_vectors(bundle, word_vectors), names)


@stage("embedding")
def score(bundle: Bundle, model, clips: ClipFeatures, names: list[str], text: torch.Tensor, *,
          device: str = "cpu") -> dict[str, np.ndarray]:
    """(N clips, C names) distances per row `model` (the bundle's) reports, as evaluation computes them."""
    trained_seen = set(bundle.classes.seen_names)
    classes = ClassTable(names=list(names), seen=np.array([n in trained_seen for n in names]))
    split = FeatureSplit(
        clip_ids=clips.clip_ids, audio=torch.from_numpy(clips.features["audio"]),
        video=torch.from_numpy(clips.features["video"]), has_audio=torch.from_numpy(clips.present["audio"]),
        has_video=torch.from_numpy(clips.present["video"]), labels=torch.zeros(len(clips.clip_ids), dtype=torch.long),
        text=text, classes=classes,
    )
    with torch.no_grad():
        scores = model_scores(model, split, torch.device(device), protocol=bundle.run.get("protocol", "paper"))
    return {m: d for m, d in scores.items() if m in ROWS}


def calibrate(bundle: Bundle, distances: dict[str, np.ndarray], names: list[str]) -> dict[str, np.ndarray]:
    """Each row's distances with the run's beta added to the classes it was trained on as seen."""
    betas = bundle.settings.get("calibration_beta", {})
    seen = np.array([n in set(bundle.classes.seen_names) for n in names], dtype=np.float32)
    out = {}
    for row, d in distances.items():
        if row not in betas:
            raise ValueError(f"the run chose no calibration beta for its {row} row (no validation split?)")
        out[row] = d + np.float32(betas[row]) * seen[None, :]
    return out


def row_for(modality: str, has: dict[str, bool], available: dict) -> str | None:
    """The row that scores a clip for the `modality` asked: that row when the clip has what it needs (audio,
    video, or either for both), else the row of the modality the clip has; None when it has neither."""
    fallback = ["both", "audio", "video"] if modality == "both" else [modality, *[m for m in ("audio", "video")
                                                                                  if m != modality], "both"]
    for row in fallback:
        if row in available and (any(has.values()) if row == "both" else has[row]):
            return row
    return None


def presence(clips: ClipFeatures, index: int) -> dict[str, bool]:
    return {m: bool(clips.present[m][index]) for m in ("audio", "video")}


@stage("ranking")
def predict_rows(clips: ClipFeatures, names: list[str], distances: dict[str, np.ndarray], *,
                 modality: str = "both", top_k: int | None = None) -> list[dict]:
    """One row per clip and rank: the `top_k` names closest to each clip (all when None)."""
    k = len(names) if top_k is None else min(top_k, len(names))
    rows = []
    for i, clip in enumerate(clips.clip_ids):
        note = clips.missing_note(i)
        row = row_for(modality, presence(clips, i), distances)
        if row is None:
            log.warning("%s: not scored (%s)", clip, note)
            rows.append({"clip": clip, "modality": "", "rank": "", "class": "", "score": "", "note": note})
            continue
        if row != modality:
            note = f"{note}; scored on {row}"
        elif row == "both" and note:
            note = f"{note}; scored on the modality it has"
        d = distances[row][i]
        for rank, c in enumerate(np.argsort(d, kind="stable")[:k], start=1):
            rows.append({"clip": clip, "modality": row, "rank": rank, "class": names[c], "score": float(d[c]),
                         "note": note})
    return rows


@stage("ranking")
def search_rows(clips: ClipFeatures, queries: list[str], distances: dict[str, np.ndarray], *,
                modality: str = "both", top_k: int | None = None) -> list[dict]:
    """One row per query and rank: the `top_k` clips closest to each query in the `modality` row, among the
    clips that row scores."""
    if modality not in distances:
        raise ValueError(f"the model reports no {modality} row (it has {sorted(distances)})")
    keep = np.array([row_for(modality, presence(clips, i), {modality: None}) == modality
                     for i in range(len(clips.clip_ids))], dtype=bool)
    if not keep.all():
        lacking = "neither audio nor video" if modality == "both" else f"no {modality}"
        log.warning("%d clip(s) have %s and are not searched", int((~keep).sum()), lacking)
    candidates = np.flatnonzero(keep)
    rows = []
    for q, query in enumerate(queries):
        d = distances[modality][candidates, q]
        order = candidates[np.argsort(d, kind="stable")]
        for rank, i in enumerate(order[: top_k or len(order)], start=1):
            rows.append({"query": query, "modality": modality, "rank": rank, "clip": clips.clip_ids[i],
                         "score": float(distances[modality][i, q]), "note": clips.missing_note(i)})
    return rows


@stage("ranking")
def write_rows(rows: list[dict], columns: tuple[str, ...], out: str | None) -> None:
    """CSV to stdout when `out` is None; else CSV or JSON (a list of objects) by the file's suffix."""
    if out is not None and Path(out).suffix.lower() == ".json":
        Path(out).write_text(json.dumps(rows, indent=1) + "\n")
        return
    if out is not None and Path(out).suffix.lower() != ".csv":
        raise ValueError(f"--out {out}: write .csv or .json")
    handle = sys.stdout if out is None else open(out, "w", newline="")
    try:
        writer = csv.DictWriter(handle, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
    finally:
        if out is not None:
            handle.close()
