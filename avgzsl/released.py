"""Import and export of the released AudioSetZSL feature layout.

The dataset's authors released features as

    <root>/audio/{trn,val,tst}/<class>.h5     datasets `data` (N x 1024), `video_urls` (N)
    <root>/video/{trn,val,tst}/<class>.h5     same
    <root>/text/word_embeddings-dict.npy      a pickled dict: class name -> 300-d vector

Importing writes our shard format (one shard per modality and split), a manifest
and a class table, so users holding those files can train at once; exporting
does the reverse so our features feed other codebases.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from avgzsl.dataset import SPLITS, ClassTable, read_manifest
from avgzsl.features import FeatureError, read_feature_shard, write_feature_shard
from avgzsl.ids import check_class_name, check_clip_id

TEXT_FILE = Path("text") / "word_embeddings-dict.npy"


def _decode(values) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def _read_class_file(path: Path) -> tuple[np.ndarray, list[str]]:
    with h5py.File(path, "r") as f:
        if "data" not in f or "video_urls" not in f:
            raise FeatureError(f"{path}: expected datasets 'data' and 'video_urls'")
        data = f["data"][...].astype(np.float32)
        ids = _decode(f["video_urls"][...])
    if data.ndim != 2 or data.shape[0] != len(ids):
        raise FeatureError(f"{path}: data shape {data.shape} does not match {len(ids)} video_urls")
    return data, ids


def import_released(root: str | os.PathLike, out_dir: str | os.PathLike, *, unseen: list[str]) -> dict:
    """Convert the released layout into shards + manifest.csv + classes.tsv; returns the written paths."""
    root, out = Path(root), Path(out_dir)
    if not (root / TEXT_FILE).is_file():
        raise FileNotFoundError(f"{root / TEXT_FILE} not found: is {root} a released AudioSetZSL feature folder?")
    # the text file is a pickled dict by the dataset's own convention; only load files you trust
    vectors = np.load(root / TEXT_FILE, allow_pickle=True).item()
    names = sorted(vectors)
    for name in names:  # class names become file names again on export
        check_class_name(name, f"{root / TEXT_FILE}")
    classes = ClassTable.from_lists(names, unseen)
    manifest_rows: dict[str, tuple[str, str]] = {}
    written = {"shards": []}
    for modality in ("audio", "video"):
        for split in SPLITS:
            split_dir = root / modality / split
            if not split_dir.is_dir():
                continue
            feats, ids = [], []
            for path in sorted(split_dir.glob("*.h5")):
                cls = path.stem
                if cls not in vectors:
                    raise FeatureError(f"{path}: class {cls!r} has no word vector in {root / TEXT_FILE}")
                data, urls = _read_class_file(path)
                for row, clip in enumerate(urls):
                    check_clip_id(clip, f"{path} video_urls row {row}")
                    prev = manifest_rows.setdefault(clip, (cls, split))
                    if prev != (cls, split):
                        raise FeatureError(f"{path}: clip {clip!r} is also listed as {prev}")
                feats.append(data)
                ids.extend(urls)
            if feats:
                shard = out / modality / f"{split}.h5"
                write_feature_shard(
                    shard, np.concatenate(feats), ids, modality=modality, extractor="released-audiosetzsl",
                    settings={"source": str(root)},
                )
                written["shards"].append(str(shard))
    text = np.stack([np.asarray(vectors[n], dtype=np.float32) for n in names])
    written["text"] = str(write_feature_shard(
        out / "text.h5", text, names, modality="text", extractor="released-audiosetzsl", settings={"source": str(root)}
    ))
    manifest = pd.DataFrame(
        [(clip, cls, split) for clip, (cls, split) in manifest_rows.items()], columns=["clip_id", "class", "split"]
    )
    manifest.to_csv(out / "manifest.csv", index=False)
    classes.write(out / "classes.tsv")
    written.update(manifest=str(out / "manifest.csv"), classes=str(out / "classes.tsv"))
    return written


def export_released(
    *, manifest: str | os.PathLike, text: str | os.PathLike, out_dir: str | os.PathLike,
    audio: list[str | os.PathLike] = (), video: list[str | os.PathLike] = (),
) -> Path:
    """Write our shards in the released layout (per split and class); clips lacking a modality are left out of it."""
    out = Path(out_dir)
    rows = read_manifest(manifest).set_index("clip_id")
    for modality, paths in (("audio", audio), ("video", video)):
        if not paths:
            continue
        shards = [read_feature_shard(p) for p in paths]
        feats = np.concatenate([s.features for s in shards])
        ids = pd.Index([i for s in shards for i in s.ids])
        unknown = ids.difference(rows.index)
        if len(unknown):
            raise FeatureError(f"{modality} shards hold clip(s) missing from the manifest, e.g. {unknown[0]!r}")
        info = rows.loc[ids]
        for (split, cls), idx in info.groupby(["split", "class"]).indices.items():
            path = out / modality / split / f"{cls}.h5"
            path.parent.mkdir(parents=True, exist_ok=True)
            with h5py.File(path, "w") as f:
                f.create_dataset("data", data=feats[idx])
                f.create_dataset("video_urls", data=np.array(ids[idx], dtype=object), dtype=h5py.string_dtype())
    text_shard = read_feature_shard(text)
    (out / TEXT_FILE).parent.mkdir(parents=True, exist_ok=True)
    np.save(out / TEXT_FILE, {n: text_shard.features[i] for i, n in enumerate(text_shard.ids)}, allow_pickle=True)
    return out
