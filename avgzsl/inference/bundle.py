"""A model bundle: one trained run packed with everything that turns raw media into its scores.

Layout of a bundle folder:

    bundle.json     the manifest: format, version and the sha256 and size of every part below
    checkpoint.pt   the embedding model (the run's checkpoint, unchanged)
    audio_cnn.pt    the audio CNN the run's audio features came from
    classes.tsv     the class table the model was trained on (name, seen)
    settings.json   how features were extracted (decode, log-mel, I3D windowing, autocast), the I3D weights'
                    identity and sha256 (not the weights), the word-vector source and its sha256, the run
                    (experiment, seed, protocol, missing-modality policy), its calibration beta per
                    modality, and the versions it was made with

The extraction settings are read from what the run's feature shards record (every shard of a modality must
agree), not from a config file: they describe the features the model was trained on even when the config
changed since, and a run made before bundles existed needs nothing re-trained to be bundled.

Opening a bundle (`open_bundle`) runs no code from it: torch files go through the safe loader
(avgzsl.formats.torch_files), every part is checked against the manifest's sha256 before use and refused,
by name, when it differs, and a part that is a link or lies outside the folder is refused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from avgzsl_extractors.text import GLOVE_6B_50D, vector_file

from avgzsl.evaluation.saved_scores import read_scores
from avgzsl.formats.atomic import staged_folder
from avgzsl.formats.manifest import ClassTable
from avgzsl.formats.shards import read_shard_settings
from avgzsl.runtime.numeric_env import numeric_environment
from avgzsl.training.checkpoint import load_checkpoint

log = logging.getLogger("avgzsl.inference")

BUNDLE_FORMAT, BUNDLE_VERSION = "avgzsl-bundle", 1
MANIFEST = "bundle.json"
CHECKPOINT, AUDIO_CNN, CLASSES, SETTINGS = "checkpoint.pt", "audio_cnn.pt", "classes.tsv", "settings.json"
PARTS = (CHECKPOINT, AUDIO_CNN, CLASSES, SETTINGS)
MAX_JSON_BYTES = 1 << 20  # the manifest and settings are a few kB; a huge one is not ours


class BundleError(ValueError):
    """A bundle that cannot be written or used as it is; the message names the file or part."""


def sha256_file(path: str | os.PathLike) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


# ---- writing -------------------------------------------------------------------------------------------------


@dataclass
class RunSources:
    """Where a run's bundle parts come from: its seed folder and its dataset's results folder."""

    run: Path
    results: Path

    @classmethod
    def of(cls, run: str | os.PathLike, results: str | os.PathLike | None = None) -> "RunSources":
        run = Path(run)
        # <results>/runs/<experiment>/seed<k>: the results folder is three levels up unless given
        return cls(run, Path(results) if results is not None else run.resolve().parents[2])

    def require(self) -> None:
        for path in (self.run / CHECKPOINT, self.run / "scores.npz", self.results / "classes.tsv",
                     self.results / "features" / "text.h5", self.results / "models" / AUDIO_CNN):
            if not path.is_file():
                raise FileNotFoundError(f"{path} not found: is {self.run} a trained deep run of the dataset "
                                        f"results folder {self.results} (--results)?")


def modality_settings(results: Path, modality: str) -> dict | None:
    """The settings every feature shard of `modality` records; None when there are no shards."""
    shards = sorted((results / "features" / modality).glob("shard_*.h5"))
    if not shards:
        return None
    seen: dict[str, tuple[Path, dict]] = {}
    for path in shards:
        found, digest, settings = read_shard_settings(path)
        if found != modality:
            raise BundleError(f"{path}: a {found} shard among the {modality} features")
        seen.setdefault(digest, (path, settings))
    if len(seen) > 1:
        (first, _), (other, _) = list(seen.values())[:2]
        raise BundleError(f"the {modality} shards were extracted with different settings ({first.name} and "
                          f"{other.name}); extract them again so they agree before bundling")
    return next(iter(seen.values()))[1]


def extraction_settings(results: Path) -> dict:
    """Audio and video extraction as the shards record it, in the keyword form the workflow's steps take."""
    out = {}
    audio = modality_settings(results, "audio")
    if audio is not None:
        out["audio"] = {
            "decode": audio["decode"],
            # the step adds the sample rate from the decode settings itself
            "logmel": {k: v for k, v in audio["logmel"].items() if k != "sample_rate"},
            "frames": audio["frames"], "autocast": audio.get("autocast", "none"),
        }
    video = modality_settings(results, "video")
    if video is not None:
        out["video"] = {
            "decode": video["decode"], "autocast": video.get("autocast", "none"),
            "video": {k: v for k, v in video.items() if k not in ("decode", "weights_sha256", "autocast")},
            "weights": {"identity": video["weights"], "sha256": video["weights_sha256"]},
        }
    if not out:
        raise BundleError(f"{results / 'features'}: no audio or video feature shards to take the settings from")
    return out


def text_settings(results: Path, word_vectors: str | None) -> dict:
    """The word-vector source the class vectors came from, with the checksum of its file."""
    _, _, recorded = read_shard_settings(results / "features" / "text.h5")
    source = recorded.get("source", GLOVE_6B_50D)
    if source != GLOVE_6B_50D and word_vectors is None:
        raise BundleError(f"the run's class vectors come from the file {source!r}: give its path "
                          "(--word-vectors) so that the bundle records its checksum")
    path = vector_file(word_vectors if word_vectors is not None else source)
    if source != GLOVE_6B_50D and path.name != source:
        raise BundleError(f"--word-vectors {path} is not the run's word-vector file {source!r}")
    return {"source": source, "normalize": bool(recorded.get("normalize", True)), "binary": recorded.get("binary"),
            "limit": recorded.get("limit"), "sha256": sha256_file(path)}


def run_record(run: Path) -> tuple[dict, dict]:
    """The run's info (from scores.npz) and the beta each modality is calibrated with (from metrics.json)."""
    saved = read_scores(run / "scores.npz")  # the checked, data-only reader
    info = json.loads(str(saved["run_info"])) if "run_info" in saved else {}
    metrics_path = run / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    betas = {m: float(b) for m, b in metrics.get("calibration", {}).get("beta", {}).items()}
    keep = ("experiment", "model", "label", "seed", "protocol", "beta_rule", "missing_modality", "both_fusion")
    return {k: info[k] for k in keep if k in info}, betas


def bundle_settings(sources: RunSources, *, word_vectors: str | None = None,
                    i3d_weights: str | None = None) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    run, betas = run_record(sources.run)
    extraction = extraction_settings(sources.results)
    if i3d_weights is not None and "video" in extraction:
        # where the weights were when bundled: predict's default when it exists and its checksum still fits
        extraction["video"]["weights"]["hint"] = str(Path(i3d_weights).resolve())
    try:
        avgzsl_version = version("avgzsl")
    except PackageNotFoundError:
        avgzsl_version = "unknown (not installed)"
    return {"run": run, "calibration_beta": betas, "extraction": extraction,
            "text": text_settings(sources.results, word_vectors),
            "versions": {"avgzsl": avgzsl_version, **numeric_environment()}}


def write_bundle(run: str | os.PathLike, out: str | os.PathLike, *, results: str | os.PathLike | None = None,
                 word_vectors: str | None = None, i3d_weights: str | None = None) -> Path:
    """Pack the run seed folder `run` into the bundle folder `out`, written whole or not at all."""
    sources = RunSources.of(run, results)
    sources.require()
    settings = bundle_settings(sources, word_vectors=word_vectors, i3d_weights=i3d_weights)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise BundleError(f"{out} exists and is not empty; choose a new folder for the bundle")
    with staged_folder(out) as stage:
        shutil.copyfile(sources.run / CHECKPOINT, stage / CHECKPOINT)
        shutil.copyfile(sources.results / "models" / AUDIO_CNN, stage / AUDIO_CNN)
        shutil.copyfile(sources.results / "classes.tsv", stage / CLASSES)
        (stage / SETTINGS).write_text(json.dumps(settings, indent=2, sort_keys=True) + "\n")
        parts = {name: {"sha256": sha256_file(stage / name), "bytes": (stage / name).stat().st_size}
                 for name in PARTS}
        manifest = {"format": BUNDLE_FORMAT, "format_version": BUNDLE_VERSION, "parts": parts}
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    log.info("bundle %s: %s seed %s", out, settings["run"].get("experiment"), settings["run"].get("seed"))
    return out


# ---- opening -------------------------------------------------------------------------------------------------


@dataclass
class Bundle:
    """An opened, verified bundle: its folder, settings and the class table it was trained on."""

    root: Path
    settings: dict
    classes: ClassTable

    @property
    def checkpoint(self) -> Path:
        return self.root / CHECKPOINT

    @property
    def audio_cnn(self) -> Path:
        return self.root / AUDIO_CNN

    @property
    def run(self) -> dict:
        return self.settings["run"]

    def load_model(self, device: str = "cpu"):
        """The embedding model (weights-only load: no code from the file runs)."""
        model, cfg, _ = load_checkpoint(self.checkpoint, device)
        return model, cfg


def _part_path(root: Path, name: str) -> Path:
    """A part's path, refused when it is a link, not a plain file, or not directly inside the bundle."""
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise BundleError(f"{root}: the manifest names a part {name!r} that is not a file name in the bundle")
    path = root / name
    if path.is_symlink():
        raise BundleError(f"{root}: part {name!r} is a symbolic link; a bundle holds its own files")
    if not path.is_file():
        raise BundleError(f"{root}: part {name!r} is missing or not a regular file")
    if path.resolve().parent != root.resolve():
        raise BundleError(f"{root}: part {name!r} lies outside the bundle folder")
    return path


def _read_json(path: Path, what: str) -> dict:
    if path.stat().st_size > MAX_JSON_BYTES:
        raise BundleError(f"{path}: too large for {what}")
    try:
        value = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BundleError(f"{path}: not readable as {what}: {err}") from err
    if not isinstance(value, dict):
        raise BundleError(f"{path}: not {what} (expected a JSON object)")
    return value


def open_bundle(path: str | os.PathLike) -> Bundle:
    """Verify every part against the manifest, then read the settings and class table."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no bundle folder there (make one with `avgzsl bundle`)")
    manifest = _read_json(_part_path(root, MANIFEST), "a bundle manifest")
    if manifest.get("format") != BUNDLE_FORMAT or manifest.get("format_version", 0) > BUNDLE_VERSION:
        raise BundleError(f"{root}: bundle format {manifest.get('format')!r} version "
                          f"{manifest.get('format_version')}; this avgzsl reads {BUNDLE_FORMAT!r} up to "
                          f"version {BUNDLE_VERSION}")
    parts = manifest.get("parts")
    if not isinstance(parts, dict) or set(PARTS) - set(parts):
        raise BundleError(f"{root}: the manifest lists no {sorted(set(PARTS) - set(parts or {}))}")
    for name, record in parts.items():
        actual = sha256_file(_part_path(root, name))
        expected = record.get("sha256") if isinstance(record, dict) else None
        if actual != expected:
            raise BundleError(f"{root}: part {name!r} has sha256 {actual}, the manifest says {expected}; "
                              "refused (changed or damaged since it was bundled)")
    settings = _read_json(root / SETTINGS, "bundle settings")
    for key in ("run", "extraction", "text"):
        if not isinstance(settings.get(key), dict):
            raise BundleError(f"{root / SETTINGS}: no {key!r} section")
    return Bundle(root=root, settings=settings, classes=ClassTable.read(root / CLASSES))
