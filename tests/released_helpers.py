"""Builders of small feature folders for the import/export and CLI tests: our shards, and both released layouts."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from avgzsl.datasets.synthetic import SyntheticConfig, synthetic_splits
from avgzsl.formats.shards import write_feature_shard

SPLITS = ("trn", "val", "tst")


def write_our_shards(root: Path, *, audio_dim=32, video_dim=24, text_dim=10, missing_video_every=7,
                     class_order=None) -> Path:
    """Synthetic features as our shards (one per modality and split) + manifest.csv + classes.tsv."""
    root.mkdir(parents=True, exist_ok=True)
    sp = synthetic_splits(SyntheticConfig(n_classes=8, n_seen=5, clips_per_class={"trn": 12, "val": 4, "tst": 4},
                                          audio_dim=audio_dim, video_dim=video_dim, text_dim=text_dim, seed=1))
    rows = []
    for split, s in sp.items():
        keep_video = np.arange(len(s)) % missing_video_every != 0 if missing_video_every else np.ones(len(s), bool)
        write_feature_shard(root / f"audio_{split}.h5", s.audio.numpy(), s.clip_ids, modality="audio", extractor="a")
        write_feature_shard(root / f"video_{split}.h5", s.video.numpy()[keep_video],
                            [c for c, k in zip(s.clip_ids, keep_video) if k], modality="video", extractor="v")
        rows += [(c, s.classes.names[y], split) for c, y in zip(s.clip_ids, s.labels.tolist())]
    pd.DataFrame(rows, columns=["clip_id", "class", "split"]).to_csv(root / "manifest.csv", index=False)
    classes = sp["trn"].classes
    if class_order is not None:  # the same classes listed in another order
        pos = [classes.names.index(n) for n in class_order]
        classes = type(classes)(names=list(class_order), seen=classes.seen[pos])
    classes.write(root / "classes.tsv")
    write_feature_shard(root / "text.h5", sp["trn"].text.numpy(), sp["trn"].classes.names, modality="text",
                        extractor="t")
    return root


def shard_args(d: Path) -> list[str]:
    return ["--manifest", str(d / "manifest.csv"), "--classes", str(d / "classes.tsv"), "--text", str(d / "text.h5"),
            "--audio", *[str(p) for p in sorted(d.glob("audio_*.h5"))],
            "--video", *[str(p) for p in sorted(d.glob("video_*.h5"))]]


def write_class_file(path: Path, data: np.ndarray, urls: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=data)
        f.create_dataset("video_urls", data=np.array(urls, dtype=object), dtype=h5py.string_dtype())


def _class_list(path: Path, names) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(",\n".join(f"'{n}'" for n in names))


def write_released(root: Path, *, layout: str, dim=16, text_dim=6, n_classes=5, n_unseen=2, clips=3) -> dict:
    """A released folder in the `authors` or `avca` layout; returns what was written, for comparisons."""
    rng = np.random.default_rng(7)
    names = [f"sound-{chr(ord('e') - i)}" for i in range(n_classes)]  # listed in reverse alphabetical order
    unseen = names[:n_unseen]
    feats = root if layout == "authors" else root / "features" / "main_features"
    vectors = {n: rng.standard_normal(text_dim).astype(np.float32) for n in names}
    text_file = feats / "text" / ("word_embeddings-dict.npy" if layout == "authors" else "word_embeddings-dict-33.npy")
    text_file.parent.mkdir(parents=True, exist_ok=True)
    np.save(text_file, vectors, allow_pickle=True)
    if layout == "avca":
        _class_list(root / "class-split" / "all_class.txt", names)
        _class_list(root / "class-split" / "seen_class.txt", names[n_unseen:])
        _class_list(root / "class-split" / "unseen_class.txt", unseen)
    features = {}
    for split in SPLITS:
        for c, name in enumerate(names):
            urls = [f"{split}{c}x{i}" for i in range(clips)]
            for modality in ("audio", "video"):
                data = rng.standard_normal((clips, dim)).astype(np.float32)
                write_class_file(feats / modality / split / f"{name}.h5", data, urls)
                features.update({(modality, u): row for u, row in zip(urls, data)})
    return {"names": names, "unseen": unseen, "vectors": vectors, "features": features, "features_dir": feats,
            "text_file": text_file}
