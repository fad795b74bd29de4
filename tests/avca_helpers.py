"""Tiny synthetic benchmark folders in AVCA-GZSL's released layout (see avgzsl.datasets.avca_benchmarks)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import torch

from avgzsl.datasets.avca_benchmarks import (
    STAGE_LISTS,
    VARIANTS,
    benchmark,
    read_class_split,
)

REAL_LISTS = Path("/work/shared/datasets/avca-gzsl")
IMPORT_STAGES = ("stage_1_train", "stage_1_val_seen", "stage_1_val_unseen", "stage_2_test_seen", "stage_2_test_unseen")


def write_class_split(folder: Path, bench_name: str, *, n_train: int = 4, n_val_unseen: int = 2,
                      n_test_unseen: int = 3, n_unused: int = 1) -> Path:
    """Synthetic class lists of the real structure; manual names sort differently from the original names
    for some classes, so AVCA-GZSL's lookup mismatches there. `cls` drops the last test-unseen class, as the
    real cls splits drop some."""
    bench = benchmark(bench_name)
    root = folder / bench.folder / "class-split"
    root.mkdir(parents=True)
    n = n_train + n_val_unseen + n_test_unseen + n_unused
    names = [f"Class{chr(ord('A') + i)}" for i in range(n)]
    # manual names: reversed letter order for every second class, so both sort orders disagree in places
    manual = {c: (f"class {chr(ord('z') - i)}" if i % 2 else f"class {c[-1].lower()}") for i, c in enumerate(names)}
    (root / "all_class.txt").write_text("\n".join(names) + "\n")
    (root / bench.w2v_csv).write_text("original,manual\n" + "".join(f"{c},{manual[c]}\n" for c in names))
    train, val_unseen = names[:n_train], names[n_train:n_train + n_val_unseen]
    test_unseen = names[n_train + n_val_unseen:n_train + n_val_unseen + n_test_unseen]
    for var in VARIANTS.values():
        unseen = test_unseen if var.split_folder == "main_split" else test_unseen[:-1]
        lists = {
            "stage_1_train": train, "stage_1_val_seen": train, "stage_1_val_unseen": val_unseen,
            "stage_2_train": train + val_unseen, "stage_2_test_seen": train + val_unseen,
            "stage_2_test_unseen": unseen,
        }
        (root / var.split_folder).mkdir()
        for stage in STAGE_LISTS:
            (root / var.split_folder / f"{stage}.txt").write_text("\n".join(lists[stage]))  # no final newline, as released
    return root


def write_released_features(root: Path, class_split: Path, bench_name: str, variant_name: str, *,
                            clips_per_class: int = 2, seed: int = 0, text_dim: int = 300) -> Path:
    """features/<set>/{audio,video}/<stage>/<class>.h5 and the text dict, for every import stage and class."""
    bench = benchmark(bench_name)
    var = VARIANTS[variant_name]
    split = read_class_split(class_split, bench, variant_name)
    rng = np.random.default_rng(seed)
    feats = root / "features" / var.features_folder
    for stage in IMPORT_STAGES:
        for cls in split.stages[stage]:
            stem = cls.lower() if bench.casefold_files else cls  # their loaders accept either case there
            urls = np.array([f"{stage}__{cls}__{k}" for k in range(clips_per_class)], dtype=object)
            for modality, dim in (("audio", var.audio_dim), ("video", var.video_dim)):
                folder = feats / modality / stage
                folder.mkdir(parents=True, exist_ok=True)
                with h5py.File(folder / f"{stem}.h5", "w") as f:
                    f.create_dataset("data", data=rng.normal(size=(clips_per_class, dim)).astype(np.float32))
                    f.create_dataset("video_urls", data=urls, dtype=h5py.string_dtype())
    vectors = {split.manual_names[c]: rng.normal(size=text_dim).astype(np.float32) for c in split.all_classes}
    text = root / bench.text_file(variant_name)
    text.parent.mkdir(parents=True, exist_ok=True)
    np.save(text, vectors, allow_pickle=True)
    return root


def spread_batch_norm_affine(net: torch.nn.Module) -> None:
    """BatchNorm's affine parameters moved away from (1, 0), so that a swapped role would show in a comparison."""
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)


def run_by_hand(seq, x: torch.Tensor, upto: int | None = None) -> torch.Tensor:
    """`seq`'s first `upto` layers (all by default) in training mode, written out: Linear, BatchNorm with batch
    statistics, ReLU; Dropout (p 0 in these tests) passes x through."""
    for layer in list(seq)[:upto]:
        if isinstance(layer, torch.nn.Linear):
            x = x @ layer.weight.t() + layer.bias
        elif isinstance(layer, torch.nn.BatchNorm1d):
            x = (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + layer.eps) * layer.weight + layer.bias
        elif isinstance(layer, torch.nn.ReLU):
            x = x.clamp(min=0)
    return x
