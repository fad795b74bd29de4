"""Export of our shards in AVCA-GZSL's AudioSetZSL layout, so other codebases train on our features.

What their unmodified loader (`AudioSetZSLDataset` in AVCA-GZSL's `src/dataset.py`, with `read_features`
from `src/utils.py`) requires, and how the export meets it:
- `class-split/{all,seen,unseen}_class.txt` read with `np.loadtxt(dtype=str)` and stripped of `'` and `,`:
  one `'name',` per line, and class names without whitespace, quotes, commas or `#`.
- `features/<name>/{audio,video}/{trn,val,tst}/<class>.h5`, every file in those folders read as a class file
  (`data`, `video_urls` decoded from UTF-8 bytes); all three splits are read, so all three must exist.
- audio and video must give identical clip lists in identical order (their `read_dataset` asserts it): only
  clips with both modalities are exported, in the same order in both folders.
- `features/<name>/text/word_embeddings-dict-33.npy`: an np.save'd dict class name -> vector.
- one `--input_size` for both modalities: audio and video dimensions should be equal (a warning otherwise).
The class lists keep our class order (their loader sorts names for its own indices; our importer reads the
order back from all_class.txt), so import -> export -> import gives identical files.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from avgzsl.datasets.released import AVCA_TEXT_FILE, CLASS_LIST_FILES, CLASS_SPLIT_DIR, write_class_list
from avgzsl.formats.atomic import staged_folder
from avgzsl.formats.ids import UnsafeIdError, clip_id_from_video_url, clip_id_problem
from avgzsl.formats.manifest import SPLITS, ClassTable, read_manifest
from avgzsl.formats.shards import FeatureError, read_feature_shard

log = logging.getLogger("avgzsl.datasets.released")

DEFAULT_FEATURES_NAME = "main_features"
# what survives np.loadtxt's whitespace split and the quote/comma stripping, and is a plain file name
EXPORTABLE_CLASS = re.compile(r"[A-Za-z0-9_\-+.()&]+")


def _check_class_names(classes: ClassTable, source) -> None:
    for name in classes.names:
        if not EXPORTABLE_CLASS.fullmatch(name) or name in (".", "..") or name.startswith("."):
            raise ValueError(
                f"{source}: class name {name!r} cannot be written to AVCA-GZSL's class lists or used as a file "
                "name (allowed: letters, digits and _ - + . ( ) &, not starting with a dot)"
            )


def _check_exported_ids(ids, manifest) -> None:
    """The clip ids written as `video_urls` must read back as themselves: `import-features` checks each as a clip
    id and reads a YouTube link as its video id, so an id either check would change or refuse is refused here."""
    problems = []
    for clip in ids:
        if problem := clip_id_problem(clip):
            problems.append(problem)
        elif clip_id_from_video_url(clip) != clip:
            problems.append(f"clip id {clip!r} is a YouTube link, which an import reads as the video id alone")
    if problems:
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        raise UnsafeIdError(f"{manifest}: {len(problems)} clip id(s) that import-features would refuse or change: "
                            + "; ".join(problems[:3]) + more)


def _modality_table(paths, modality: str, rows: pd.DataFrame) -> tuple[np.ndarray, pd.Index]:
    shards = [(p, read_feature_shard(p)) for p in paths]
    for p, shard in shards:
        if shard.modality != modality:
            raise FeatureError(f"{p}: its modality attribute is {shard.modality!r}, but it was given as {modality} features")
    dims = {s.dim for _, s in shards}
    if len(dims) != 1:
        raise FeatureError("shards of one modality disagree in dimension: "
                           + ", ".join(f"{p}: {s.dim}-d" for p, s in shards))
    for p, shard in shards:
        unknown = pd.Index(shard.ids).difference(rows.index)
        if len(unknown):
            raise FeatureError(f"{p}: {len(unknown)} clip(s) missing from the manifest, e.g. {unknown[0]!r}")
    ids = pd.Index([i for _, s in shards for i in s.ids])
    if ids.has_duplicates:
        raise FeatureError(f"{modality} shards list clip {ids[ids.duplicated()][0]!r} more than once")
    return np.concatenate([s.features for _, s in shards]), ids


def export_released(
    *, manifest: str | os.PathLike, classes: str | os.PathLike, text: str | os.PathLike,
    out_dir: str | os.PathLike, audio: list, video: list, features_name: str = DEFAULT_FEATURES_NAME,
) -> Path:
    """Write shards in AVCA-GZSL's AudioSetZSL layout under `out_dir` (which appears whole or not at all)."""
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out}: exists and is not empty; export into a new folder (stale class files would be "
                         "read as part of the export)")
    if not audio or not video:
        raise ValueError("AVCA-GZSL's loader reads audio and video for every clip: give both audio and video shards")
    if not re.fullmatch(r"[A-Za-z0-9_\-.]+", features_name) or features_name.startswith("."):
        raise ValueError(f"feature set name {features_name!r}: use letters, digits, _ - . (not starting with a dot)")
    table = ClassTable.read(classes)
    _check_class_names(table, classes)
    rows = read_manifest(manifest)
    unknown = sorted(set(rows["class"]) - set(table.names))
    if unknown:
        raise ValueError(f"{manifest}: class(es) {unknown} are not in {classes}")
    rows = rows.set_index("clip_id")
    text_shard = read_feature_shard(text)
    if text_shard.modality != "text":
        raise FeatureError(f"{text}: its modality attribute is {text_shard.modality!r}, but it was given as the text shard")
    missing = sorted(set(table.names) - set(text_shard.ids))
    if missing:
        raise FeatureError(f"{text}: no text vector for class(es) {missing}")
    a_feats, a_ids = _modality_table(audio, "audio", rows)
    v_feats, v_ids = _modality_table(video, "video", rows)
    if a_feats.shape[1] != v_feats.shape[1]:
        log.warning("audio is %d-d and video %d-d: AVCA-GZSL's loader takes one --input_size for both",
                    a_feats.shape[1], v_feats.shape[1])

    # clips with both modalities, in manifest order
    both = rows.index[rows.index.isin(a_ids) & rows.index.isin(v_ids)]
    dropped = len(a_ids.union(v_ids)) - len(both)
    if dropped:
        log.warning("%d clip(s) have only one modality and are left out of the export", dropped)
    _check_exported_ids(both, manifest)
    info = rows.loc[both]
    empty = [s for s in SPLITS if not (info["split"] == s).any()]
    if empty:
        raise ValueError(f"{manifest}: no clip with both audio and video in split(s) {empty}; AVCA-GZSL's loader "
                         f"reads {list(SPLITS)}")
    if len(table.unseen_names) == 1:
        log.warning("one unseen class: np.loadtxt in AVCA-GZSL's loader reads a one-line list as a scalar")
    a_pos, v_pos = a_ids.get_indexer(both), v_ids.get_indexer(both)
    class_rank = {n: i for i, n in enumerate(table.names)}

    with staged_folder(out) as stage:
        lists = stage / CLASS_SPLIT_DIR
        lists.mkdir()
        write_class_list(lists / CLASS_LIST_FILES["all"], table.names)
        write_class_list(lists / CLASS_LIST_FILES["seen"], table.seen_names)
        write_class_list(lists / CLASS_LIST_FILES["unseen"], table.unseen_names)
        feats_dir = stage / "features" / features_name
        groups = info.reset_index().groupby(["split", "class"], sort=False).indices
        for split in SPLITS:
            for modality in ("audio", "video"):
                (feats_dir / modality / split).mkdir(parents=True)
            # the same class files, created in the same order, in both folders
            for cls in sorted((c for s, c in groups if s == split), key=class_rank.__getitem__):
                idx = groups[(split, cls)]
                urls = np.array(list(both[idx]), dtype=object)
                for modality, feats, pos in (("audio", a_feats, a_pos), ("video", v_feats, v_pos)):
                    with h5py.File(feats_dir / modality / split / f"{cls}.h5", "w") as f:
                        f.create_dataset("data", data=feats[pos[idx]])
                        f.create_dataset("video_urls", data=urls, dtype=h5py.string_dtype())
        text_rows = pd.Index(text_shard.ids).get_indexer(table.names)
        (feats_dir / AVCA_TEXT_FILE).parent.mkdir(parents=True)
        vectors = {n: text_shard.features[i].copy() for n, i in zip(table.names, text_rows)}
        np.save(feats_dir / AVCA_TEXT_FILE, vectors, allow_pickle=True)
    return out
