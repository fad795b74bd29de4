"""Import of AVCA-GZSL's released benchmark features (VGGSound-, UCF-, ActivityNet-GZSL) into our shard format.

Source layout and class lists: `avgzsl.datasets.avca_benchmarks`. Output (the same files as
`avgzsl.datasets.released.import_released`, so every model and table reads it unchanged):

    <out>/{audio,video}/{trn,val,tst}.h5, <out>/text.h5, <out>/manifest.csv, <out>/classes.tsv,
    <out>/classes_stage1.tsv, <out>/avca_benchmark.json

Stage mapping (AVCA-GZSL's README, "GZSL training and evaluation protocol"; their `src/dataset.py`,
`get_data_by_modality`, which reads exactly these five feature folders):

    trn = stage_1_train                              stage-1 training
    val = stage_1_val_seen + stage_1_val_unseen      stage-1 selection of epoch and calibration
    tst = stage_2_test_seen + stage_2_test_unseen    stage-2 test
    stage 2 trains on trn + val, which is stage_2_train's classes (checked on reading the lists)

The manifest keeps each clip's released folder in a `stage_list` column.

Class roles differ between the stages: `classes.tsv` holds the stage-2 classes (every class with clips)
with `stage_2_test_unseen` unseen — the roles of training on trn + val and testing on tst.
`classes_stage1.tsv` holds the stage-1 classes (stage_1_train + stage_1_val_unseen; the test-unseen
classes are not in it) with `stage_1_val_unseen` unseen — the roles under which val is scored in stage 1.
Class order is the sorted class names, the index order of their `class_to_idx`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from avgzsl.datasets.avca_benchmarks import (
    SPLIT_REPO,
    SPLIT_REPO_COMMIT,
    TEXT_DIM,
    TEXT_LOOKUPS,
    ClassSplit,
    benchmark,
    canonical_key,
    fetch_class_split,
    locate_class_split,
    mislooked_classes,
    read_class_split,
    text_vectors,
    variant,
    verify_lists,
)
from avgzsl.datasets.released import read_class_file
from avgzsl.formats.atomic import staged_folder
from avgzsl.formats.manifest import ClassTable
from avgzsl.formats.safe_pickle import load_word_vector_dict
from avgzsl.formats.shards import FeatureError, write_feature_shard

EXTRACTOR = "released-avca-gzsl"
STAGE_TO_SPLIT = {
    "stage_1_train": "trn",
    "stage_1_val_seen": "val",
    "stage_1_val_unseen": "val",
    "stage_2_test_seen": "tst",
    "stage_2_test_unseen": "tst",
}
MODALITIES = ("audio", "video")
PINNED = "pinned"  # digest value meaning: the benchmark's pinned digest


@dataclass
class AvcaBenchmarkConfig:
    benchmark: str  # vggsound-gzsl | ucf-gzsl | activitynet-gzsl
    variant: str = "main"  # main (SeLaVi) | cls (VGGish / C3D)
    text_lookup: str = "correct"  # correct | avca_compat (AVCA-GZSL's mismatched pairing, see avca_benchmarks)
    split_dir: str | None = None  # local class lists; None: fetch the pinned commit into cache_dir
    cache_dir: str = "~/.cache/avgzsl/avca-gzsl"
    commit: str = SPLIT_REPO_COMMIT
    digest: str | None = PINNED  # None accepts any lists
    url: str | None = None
    timeout_s: float = 60.0


def load_class_split(cfg: AvcaBenchmarkConfig) -> ClassSplit:
    bench = benchmark(cfg.benchmark)
    variant(cfg.variant)
    if cfg.text_lookup not in TEXT_LOOKUPS:
        raise ValueError(f"text_lookup {cfg.text_lookup!r}: choose one of {TEXT_LOOKUPS}")
    digest = bench.lists_digest if cfg.digest == PINNED else cfg.digest
    if cfg.split_dir is not None:
        folder = locate_class_split(cfg.split_dir, bench)
        verify_lists(folder, bench, digest)
    else:
        folder = fetch_class_split(cfg.cache_dir, bench, commit=cfg.commit, digest=digest, url=cfg.url,
                                   timeout_s=cfg.timeout_s)
    return read_class_split(folder, bench, cfg.variant)


def stage_class_files(folder: Path, stage_classes: list[str], bench_name: str, suffix: str) -> dict[str, Path]:
    """class -> its file in one modality's stage folder: only `<class><suffix>` files of the stage list, one each,
    every class of the list present (their loaders read every file of the folder as a class)."""
    bench = benchmark(bench_name)
    if not folder.is_dir():
        raise FeatureError(f"{folder}: missing (expected one <class>{suffix} per class of the stage list)")
    by_key = {canonical_key(bench, c): c for c in stage_classes}
    found: dict[str, Path] = {}
    for path in sorted(p for p in folder.iterdir() if not p.name.startswith(".")):
        if path.suffix != suffix or not path.is_file():
            raise FeatureError(f"{path}: expected only <class>{suffix} files in {folder}")
        name = by_key.get(canonical_key(bench, path.stem))
        if name is None:
            raise FeatureError(f"{path}: class {path.stem!r} is not in this stage's class list")
        if name in found:
            raise FeatureError(f"{path}: class {name!r} also has the file {found[name]}")
        found[name] = path
    absent = [c for c in stage_classes if c not in found]
    if absent:
        raise FeatureError(f"{folder}: no feature file for class(es) {absent[:5]} of the stage list")
    return found


def check_paired_clips(read: dict) -> None:
    """Audio and video list the same clips in the same order per class and stage, and no clip is in two classes.

    `read`: (modality, stage) -> {class: (path, features, clip ids)}, as both importers read it."""
    owner: dict[str, Path] = {}
    for stage in STAGE_TO_SPLIT:
        for cls, (a_path, _, a_ids) in read[("audio", stage)].items():
            v_path, _, v_ids = read[("video", stage)][cls]
            if a_ids != v_ids:  # their loaders assert equal clip names for audio and video
                only = sorted(set(a_ids) ^ set(v_ids))
                detail = f"e.g. clip {only[0]!r} is in only one" if only else "the same clips in another order"
                raise FeatureError(f"{a_path} and {v_path} list different clips: {detail}")
            for clip in a_ids:
                prev = owner.setdefault(clip, a_path)
                if prev != a_path:
                    raise FeatureError(f"{a_path}: clip {clip!r} is also listed in {prev}")


def read_benchmark_features(root: Path, split: ClassSplit, cfg: AvcaBenchmarkConfig) -> dict:
    """(modality, stage) -> {class: (path, features, ids)}, with audio and video checked against each other."""
    var = variant(cfg.variant)
    dims = {"audio": var.audio_dim, "video": var.video_dim}
    feats = root / "features" / var.features_folder
    read = {}
    for modality in MODALITIES:
        for stage in STAGE_TO_SPLIT:
            folder = feats / modality / stage
            files = stage_class_files(folder, split.stages[stage], cfg.benchmark, ".h5")
            read[(modality, stage)] = {
                cls: (path, *read_class_file(path, dim=dims[modality], within=folder,
                                             dim_from=f" (the {cfg.variant!r} feature set)"))
                for cls, path in files.items()}
    check_paired_clips(read)
    return read


def read_text_vectors(text_path: Path, split: ClassSplit, cfg: AvcaBenchmarkConfig) -> np.ndarray:
    """The stage-2 classes' word vectors from a released `np.save`d dict, paired as `cfg.text_lookup` says."""
    if not text_path.is_file():
        raise FileNotFoundError(f"{text_path}: word-vector file not found")
    text = text_vectors(load_word_vector_dict(text_path), split, split.stage2_classes, lookup=cfg.text_lookup,
                        source=str(text_path))
    if text.shape[1] != TEXT_DIM:
        raise ValueError(f"{text_path}: {text.shape[1]}-d word vectors, expected {TEXT_DIM}")
    return text


def import_avca_benchmark(root: str | os.PathLike, out_dir: str | os.PathLike, cfg: AvcaBenchmarkConfig) -> dict:
    """Convert a released benchmark folder (`<root>/features/...`) into shards + manifest + class tables."""
    root = Path(root)
    bench = benchmark(cfg.benchmark)
    split = load_class_split(cfg)
    text_path = root / bench.text_file(cfg.variant)
    stage2 = split.stage2_classes
    text = read_text_vectors(text_path, split, cfg)
    read = read_benchmark_features(root, split, cfg)

    rows, shards = [], {}
    for modality in MODALITIES:
        for out_split in ("trn", "val", "tst"):
            parts = [(stage, cls, read[(modality, stage)][cls]) for stage, s in STAGE_TO_SPLIT.items()
                     if s == out_split for cls in split.stages[stage]]
            shards[(modality, out_split)] = (np.concatenate([p[2][1] for p in parts]), [i for p in parts for i in p[2][2]])
            if modality == "audio":
                rows += [(clip, cls, out_split, stage) for stage, cls, (_, _, ids) in parts for clip in ids]
    manifest = pd.DataFrame(rows, columns=["clip_id", "class", "split", "stage_list"])
    classes = ClassTable.from_lists(stage2, split.stages["stage_2_test_unseen"])
    classes_stage1 = ClassTable.from_lists(split.stage1_classes, split.stages["stage_1_val_unseen"])
    mislooked = mislooked_classes(split, stage2)
    record = {
        **{k: v for k, v in asdict(cfg).items() if k not in ("cache_dir", "url", "timeout_s")},
        "digest": bench.lists_digest if cfg.digest == PINNED else cfg.digest,
        "split_repository": f"{SPLIT_REPO}@{cfg.commit}",
        "stage_to_split": STAGE_TO_SPLIT,
        "clips": {s: int((manifest["split"] == s).sum()) for s in ("trn", "val", "tst")},
        "classes_stage2": len(stage2), "classes_stage1": len(split.stage1_classes),
        "avca_text_mismatch": {
            "classes": len(mislooked),
            "test_unseen": len(mislooked_classes(split, split.stages["stage_2_test_unseen"])),
            "test_unseen_total": len(split.stages["stage_2_test_unseen"]),
            "applied": cfg.text_lookup == "avca_compat",
        },
    }
    out = Path(out_dir)
    with staged_folder(out) as stage:
        for (modality, out_split), (data, ids) in shards.items():
            write_feature_shard(stage / modality / f"{out_split}.h5", data, ids, modality=modality, extractor=EXTRACTOR,
                                settings={"benchmark": cfg.benchmark, "variant": cfg.variant})
        write_feature_shard(stage / "text.h5", text, stage2, modality="text", extractor=EXTRACTOR,
                            settings={"benchmark": cfg.benchmark, "text_lookup": cfg.text_lookup})
        manifest.to_csv(stage / "manifest.csv", index=False)
        classes.write(stage / "classes.tsv")
        classes_stage1.write(stage / "classes_stage1.tsv")
        (stage / "avca_benchmark.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return {"out": str(out), **record}
