"""Tiny synthetic benchmark folders in TCaF's released temporal layout (see avgzsl.datasets.tcaf_import).

Their layout (TCAF-GZSL src/dataset.py, src/utils.py:21-30): one pickle per class and stage list,
features/<variant>_features_non_averaged/{audio,video}/<stage>/<Class>.pkl holding
{'features': [per-clip (T_i, D) arrays], 'video_names': [...], 'fps': [...]}, and the np.save'd text dict.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from avgzsl.datasets.avca_benchmarks import VARIANTS, benchmark, read_class_split
from avgzsl.datasets.tcaf_import import features_folder

IMPORT_STAGES = ("stage_1_train", "stage_1_val_seen", "stage_1_val_unseen", "stage_2_test_seen", "stage_2_test_unseen")
SMALL_DIMS = (6, 5)  # small widths for tests; the import checks them against the variant's, so patch those


def use_small_dims(monkeypatch) -> None:
    """Make both variants' audio / video widths SMALL_DIMS for one test."""
    from avgzsl.datasets import avca_benchmarks

    for name in ("main", "cls"):
        var = avca_benchmarks.VARIANTS[name]
        monkeypatch.setitem(avca_benchmarks.VARIANTS, name, avca_benchmarks.Variant(
            var.split_folder, var.features_folder, *SMALL_DIMS))


def clip_lengths(k: int, variant_name: str) -> tuple[int, int]:
    """Audio and video windows of the k-th clip of a class: different per clip and per modality, as released."""
    return 2 + k % 3, 3 + (2 * k) % 5


def write_tcaf_features(root: Path, class_split: Path, bench_name: str, variant_name: str, *,
                        clips_per_class: int = 3, seed: int = 0, dims: tuple[int, int] | None = None) -> dict:
    """Write the folder; returns {clip name: (audio (Ta, Da), video (Tv, Dv), class)} as written."""
    bench = benchmark(bench_name)
    var = VARIANTS[variant_name]
    audio_dim, video_dim = dims or (var.audio_dim, var.video_dim)
    split = read_class_split(class_split, bench, variant_name)
    rng = np.random.default_rng(seed)
    base = root / "features" / features_folder(variant_name)
    written = {}
    for stage in IMPORT_STAGES:
        for cls in split.stages[stage]:
            stem = cls.lower() if bench.casefold_files else cls  # their UCF / ActivityNet loaders lower-case stems
            names = [f"{stage}__{cls}__{k}" for k in range(clips_per_class)]
            audio, video = [], []
            for k, name in enumerate(names):
                t_a, t_v = clip_lengths(k, variant_name)
                if variant_name == "cls":  # VGGish post-processed: uint8 0..255
                    audio.append(rng.integers(0, 256, size=(t_a, audio_dim), dtype=np.uint8))
                else:
                    audio.append(rng.normal(size=(t_a, audio_dim)).astype(np.float32))
                video.append(rng.normal(size=(t_v, video_dim)).astype(np.float32))
                written[name] = (audio[-1], video[-1], cls)
            for modality, seqs in (("audio", audio), ("video", video)):
                folder = base / modality / stage
                folder.mkdir(parents=True, exist_ok=True)
                payload = {"features": seqs, "video_names": np.array(names), "fps": [25.0] * len(names)}
                with (folder / f"{stem}.pkl").open("wb") as fh:
                    pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)
    vectors = {split.manual_names[c]: rng.normal(size=300).astype(np.float32) for c in split.all_classes}
    text = base / "text" / f"word_embeddings_{bench.text_name}_normed.npy"
    text.parent.mkdir(parents=True, exist_ok=True)
    np.save(text, vectors, allow_pickle=True)
    return written
