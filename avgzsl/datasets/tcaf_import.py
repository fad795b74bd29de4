"""Import of TCaF's released temporal features (VGGSound-, UCF-, ActivityNet-GZSL, `main` and `cls`).

Source layout, as TCaF's loader reads it (ExplainableML/TCAF-GZSL at commit 0ca2059, `src/dataset.py`,
classes `VGGSoundDataset` / `UCFDataset` / `ActivityNetDataset`, cited `ds:<line>`; `src/utils.py` `ut:<line>`):

    avgzsl_benchmark_non_averaged_datasets/<DS>/                          the --root_dir
        class-split/...                                                  as AVCA-GZSL's (the same files: their
                                                                         lists digest to AVCA-GZSL's pinned ones)
        features/<variant>_features_non_averaged/{audio,video}/<stage>/<Class>.pkl
        features/<variant>_features_non_averaged/text/word_embeddings_<ucf|activity|vggsound>_normed.npy

`<variant>_features_non_averaged` is their `feature_extraction_method` (config/best/best_{cls,main}/*.yaml).
Each .pkl holds one class of one stage list: {'features': [per-clip (T_i, D) array], 'video_names': [...],
'fps': [...]} (read_features, ut:21-30); the class is the file's stem (`class_to_idx[file.stem]`, lower-cased
for UCF and ActivityNet, ds:303, 1410); every file of the folder is read (`iterdir`, ds:295-305). Audio and
video list the same clips in the same order (their read_dataset asserts equal targets and names, ds:256-262).
Sequence lengths are whatever each array has: audio and video lengths differ, and nothing is cut at import
(their collator cuts per batch: avgzsl.models.tcaf). Stages, class order (sorted names), class roles and the
text lookup (`correct` / `avca_compat`) are AVCA-GZSL's (ds:264-273 is the same code): see
`avgzsl.datasets.avca_import`, whose stage mapping and class tables this import shares.

Every pickle goes through the numpy-only unpickler (`avgzsl.formats.safe_pickle`): it holds only lists, dicts,
strings, numbers and numpy arrays, and anything else is refused before it is built.

Output: the files of `avca_import` (so every model trains on it, on the clip means: `{audio,video}/<split>.h5`
hold each clip's windows averaged, the like-for-like features the other deep models use beside TCaF), plus
`{audio,video}_seq/{trn,val,tst}.h5` sequence shards (avgzsl.formats.sequence_shards); its record keeps
avca_import's name, `avca_benchmark.json` (the tables and recompute read it), with `"features": "temporal"`.
"""

from __future__ import annotations

import json
import os
import pickle
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from avgzsl.datasets.avca_benchmarks import ClassSplit, benchmark, variant
from avgzsl.datasets.avca_import import (
    MODALITIES,
    PINNED,
    STAGE_TO_SPLIT,
    AvcaBenchmarkConfig,
    check_paired_clips,
    load_class_split,
    mislooked_classes,
    read_text_vectors,
    stage_class_files,
)
from avgzsl.formats.atomic import staged_folder
from avgzsl.formats.input_files import check_regular_file
from avgzsl.formats.manifest import ClassTable
from avgzsl.formats.safe_pickle import NumpyOnlyUnpickler, UnsafePickleError
from avgzsl.formats.sequence_shards import write_sequence_shard
from avgzsl.formats.shards import FeatureError, write_feature_shard

EXTRACTOR = "released-tcaf-gzsl"
TCAF_REPO = "ExplainableML/TCAF-GZSL@0ca2059bc018c4f4c0975833f63e61ad042f7312"
# seconds between window starts, as their collator places windows (ds:658, 708-711; main.py:179-184: SeLaVi 1 s)
HOP_S = {("cls", "audio"): 0.96, ("cls", "video"): 0.64, ("main", "audio"): 1.0, ("main", "video"): 1.0}
# seconds one window spans: a VGGish example 0.96 s, a C3D clip 16 frames at 25 fps; SeLaVi's is not stated
WINDOW_S = {("cls", "audio"): 0.96, ("cls", "video"): 0.64}


def features_folder(variant_name: str) -> str:
    """Their `feature_extraction_method` for a variant (config/best/best_<variant>/*.yaml)."""
    variant(variant_name)
    return f"{variant_name}_features_non_averaged"


def read_class_pickle(path: Path, dim: int) -> tuple[list[np.ndarray], list[str]]:
    """One <Class>.pkl: its clips' (T_i, dim) float32 sequences and clip names; a bad file names itself."""
    check_regular_file(path, what="a TCaF feature pickle", error=FeatureError)
    with path.open("rb") as fh:
        try:
            data = NumpyOnlyUnpickler(fh, source=str(path), what="only lists, dicts, strings, numbers and numpy "
                                      "arrays are accepted", encoding="latin1").load()
        except UnsafePickleError:
            raise
        except (pickle.UnpicklingError, EOFError, TypeError, ValueError, AttributeError, IndexError) as err:
            raise FeatureError(f"{path}: the pickle is corrupt or truncated ({err})") from err
    if not isinstance(data, dict) or not {"features", "video_names"} <= set(data):
        raise FeatureError(f"{path}: expected a dict with 'features' and 'video_names' (their read_features)")
    feats, names = list(data["features"]), [str(n) for n in list(data["video_names"])]  # ut:26-28
    if len(feats) != len(names):
        raise FeatureError(f"{path}: {len(feats)} sequences but {len(names)} video names")
    out = []
    for name, x in zip(names, feats):
        if not isinstance(x, np.ndarray) or x.dtype.kind not in "fiu" or x.ndim != 2 or x.shape[0] == 0:
            what = f"{x.dtype} {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
            raise FeatureError(f"{path}: clip {name!r}: expected a non-empty numeric (T, D) array, found {what}")
        if x.shape[1] != dim:
            raise FeatureError(f"{path}: clip {name!r} has {x.shape[1]}-d windows; this feature set is {dim}-d")
        out.append(x.astype(np.float32))  # VGGish audio is uint8 0..255, cast as their collator does (ds:799)
    return out, names


def read_temporal_features(root: Path, split: ClassSplit, cfg: AvcaBenchmarkConfig) -> dict:
    """(modality, stage) -> {class: (path, sequences, names)}, audio and video checked clip by clip (ds:259-260)."""
    var = variant(cfg.variant)
    dims = {"audio": var.audio_dim, "video": var.video_dim}
    base = root / "features" / features_folder(cfg.variant)
    read = {}
    for modality in MODALITIES:
        for stage in STAGE_TO_SPLIT:
            files = stage_class_files(base / modality / stage, split.stages[stage], cfg.benchmark, ".pkl")
            read[(modality, stage)] = {cls: (path, *read_class_pickle(path, dims[modality]))
                                       for cls, path in files.items()}
    check_paired_clips(read)
    return read


def import_tcaf_benchmark(root: str | os.PathLike, out_dir: str | os.PathLike, cfg: AvcaBenchmarkConfig) -> dict:
    """Convert a released temporal benchmark folder into clip-mean shards, sequence shards, manifest, classes."""
    root = Path(root)
    bench = benchmark(cfg.benchmark)
    split = load_class_split(cfg)
    text_path = root / "features" / features_folder(cfg.variant) / "text" / f"word_embeddings_{bench.text_name}_normed.npy"
    stage2 = split.stage2_classes
    text = read_text_vectors(text_path, split, cfg)
    read = read_temporal_features(root, split, cfg)

    rows, parts_by = [], {}
    for modality in MODALITIES:
        for out_split in ("trn", "val", "tst"):
            parts = [(stage, cls, read[(modality, stage)][cls]) for stage, s in STAGE_TO_SPLIT.items()
                     if s == out_split for cls in split.stages[stage]]
            parts_by[(modality, out_split)] = ([x for p in parts for x in p[2][1]], [n for p in parts for n in p[2][2]])
            if modality == "audio":
                rows += [(clip, cls, out_split, stage) for stage, cls, (_, _, names) in parts for clip in names]
    manifest = pd.DataFrame(rows, columns=["clip_id", "class", "split", "stage_list"])
    lengths = {m: [len(x) for s in ("trn", "val", "tst") for x in parts_by[(m, s)][0]] for m in MODALITIES}
    record = {
        **{k: v for k, v in asdict(cfg).items() if k not in ("cache_dir", "url", "timeout_s")},
        "digest": bench.lists_digest if cfg.digest == PINNED else cfg.digest,
        "features": "temporal", "source": TCAF_REPO, "features_folder": features_folder(cfg.variant), "stage_to_split": STAGE_TO_SPLIT,
        "clips": {s: int((manifest["split"] == s).sum()) for s in ("trn", "val", "tst")},
        "windows": {m: {"min": int(min(v, default=0)), "max": int(max(v, default=0)),
                        "mean": float(np.mean(v)) if v else 0.0} for m, v in lengths.items()},
        "avca_text_mismatch": {"classes": len(mislooked_classes(split, stage2)),
                               "applied": cfg.text_lookup == "avca_compat"},
    }
    with staged_folder(Path(out_dir)) as stage:
        for (modality, out_split), (seqs, names) in parts_by.items():
            timing = {"window_s": WINDOW_S.get((cfg.variant, modality), float("nan")),
                      "hop_s": HOP_S[(cfg.variant, modality)]}
            settings = {"benchmark": cfg.benchmark, "variant": cfg.variant, "source": TCAF_REPO}
            write_sequence_shard(stage / f"{modality}_seq" / f"{out_split}.h5", seqs, names, modality=modality,
                                 extractor=EXTRACTOR, settings=settings, **timing)
            means = np.stack([x.mean(axis=0, dtype=np.float64) for x in seqs]).astype(np.float32)
            write_feature_shard(stage / modality / f"{out_split}.h5", means, names, modality=modality,
                                extractor=EXTRACTOR, settings={**settings, "reduced": "mean over windows"})
        write_feature_shard(stage / "text.h5", text, stage2, modality="text", extractor=EXTRACTOR,
                            settings={"benchmark": cfg.benchmark, "text_lookup": cfg.text_lookup})
        manifest.to_csv(stage / "manifest.csv", index=False)
        ClassTable.from_lists(stage2, split.stages["stage_2_test_unseen"]).write(stage / "classes.tsv")
        ClassTable.from_lists(split.stage1_classes, split.stages["stage_1_val_unseen"]).write(
            stage / "classes_stage1.tsv")
        (stage / "avca_benchmark.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return {"out": str(out_dir), **record}
