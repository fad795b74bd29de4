"""TCaF's own stage-1 epoch (a checkout of ExplainableML/TCAF-GZSL), driven for benchmarks/tcaf_epoch.py.

Nothing of theirs is copied here: their modules are imported from the checkout and called as their main.py calls
them for a VGGSound stage-1 run (main.py:84-89, 150-158, 180-191, 212-225, 270: VGGSoundDataset('train', 'train'),
ContrastiveDataset, SamplerFactory 'random' with alpha 1, DefaultCollator with rate 1 / 1 for `selavi`, a DataLoader
with 4 workers, Multimodal_Sequence_Transformer, src/train.py's train_step), with the values of
config/best/best_main/best_vggsound.yaml read from the checkout. The clips are written first in their on-disk
layout (features/<method>/{audio,video}/<stage>/<Class>.pkl holding {'features', 'video_names', 'fps'}; the text
dict) so their dataset class reads, caches and serves them per clip as it does the released features.

Runtime shims for torch 2.13 / numpy 2 / a machine without CUDA, none of which edits their files:
* their `torch.utils.tensorboard` import is stubbed where tensorboard is missing (benchmarks/_avca_repo.py);
* `np.array` of the ragged per-clip sequences (their `all_data`, dataset.py:37-46) builds the object array numpy
  < 1.24 built; numpy >= 1.24 refuses ragged input (`src.dataset`'s `np` is a proxy that falls back to that);
* on a CPU, `Tensor.cuda()` returns the tensor while their code runs (their `map_embeddings_target`,
  dataset.py:49-56, moves the class vectors with `.cuda()` unconditionally);
* their progress bars are off (`tqdm(disable=True)`): output only, every iteration still goes through tqdm.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import logging
import os
import pickle
import shutil
import time
from argparse import Namespace
from pathlib import Path

import numpy as np
import torch
import yaml
from _avca_repo import import_their_module
from _matmul_floor import ProductRecorder, product_floor, product_flops, sync
from torch.utils import data
from tqdm import tqdm

PROJECT = "TCAF-GZSL"
BEST_CONFIG = "config/best/best_main/best_vggsound.yaml"
CLASS_SPLIT = "avgzsl_benchmark_non_averaged_datasets/VGGSound/class-split"
OTHER_STAGES = ("stage_1_val_seen", "stage_1_val_unseen", "stage_2_test_seen", "stage_2_test_unseen")
OTHER_CLIPS = 2  # clips per class in the stages their loader caches up front but a training epoch never reads
LOADER_WORKERS = 4  # main.py:184
LAYOUT_VERSION = 1  # raise when write_their_layout changes: a folder written by an older one is rewritten


class _NumpyRaggedArrays:
    """numpy, except that `array` of differently shaped arrays returns the (N,) object array numpy < 1.24 built."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def array(obj, *args, **kwargs):
        try:
            return np.array(obj, *args, **kwargs)
        except ValueError:
            if args or kwargs or not isinstance(obj, list):
                raise
            out = np.empty(len(obj), dtype=object)
            for i, item in enumerate(obj):
                out[i] = item
            return out


@contextlib.contextmanager
def cuda_calls_stay_on(device: torch.device):
    """On a CPU, `Tensor.cuda()` returns the tensor itself while the block runs."""
    if device.type == "cuda":
        yield
        return
    original = torch.Tensor.cuda
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    try:
        yield
    finally:
        torch.Tensor.cuda = original


def _class_names(path: Path) -> list[str]:
    return sorted(line.strip() for line in path.read_text().splitlines() if line.strip())


def _write_class(folder: Path, name: str, sequences: list[np.ndarray], clip_names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    payload = {"features": sequences, "video_names": np.array(clip_names), "fps": [25.0] * len(clip_names)}
    with (folder / f"{name}.pkl").open("wb") as fh:
        pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)


def write_their_layout(root: Path, repo: Path, clips, method: str, split: str) -> None:
    """The clips as their released VGGSound folder: class i of the clips is the i-th stage_1_train class."""
    shutil.copytree(repo / CLASS_SPLIT, root / "class-split", dirs_exist_ok=True)
    lists = root / "class-split" / split
    train_classes = _class_names(lists / "stage_1_train.txt")
    base = root / "features" / method
    rng = np.random.default_rng(1)
    for c, name in enumerate(train_classes):
        members = np.flatnonzero(clips.labels == c)
        for modality in ("audio", "video"):
            _write_class(base / modality / "stage_1_train", name, [clips.windows(modality, i) for i in members],
                         [f"train_{i}" for i in members])
    for stage in OTHER_STAGES:
        for name in _class_names(lists / f"{stage}.txt"):
            ids = [f"{stage}_{name}_{k}" for k in range(OTHER_CLIPS)]
            for modality in ("audio", "video"):
                seqs = [rng.standard_normal((10, clips.audio.shape[1]), dtype=np.float32) for _ in ids]
                _write_class(base / modality / stage, name, seqs, ids)
    with (root / "class-split/vggsound_w2v_class_names.csv").open(newline="") as fh:
        manual = [row["manual"] for row in csv.DictReader(fh)]
    vectors = {m: rng.standard_normal(clips.text.shape[1]).astype(np.float32) for m in manual}
    (base / "text").mkdir(parents=True, exist_ok=True)
    np.save(base / "text" / "word_embeddings_vggsound_normed.npy", vectors, allow_pickle=True)


def prepared_root(workdir: Path, repo: Path, clips, cfg: dict) -> Path:
    """Their dataset folder under `workdir`, written once per set of clips; their processed-feature cache (kept
    under the working directory, dataset.py:58-60) is cleared whenever the folder is rewritten."""
    root = workdir / "VGGSound"
    stamp = workdir / "clips.json"
    key = {"layout": LAYOUT_VERSION, "clips": int(len(clips.labels)), "windows": int(clips.audio_lengths.sum() + clips.video_lengths.sum()),
           "method": cfg["feature_extraction_method"]}
    if stamp.exists() and json.loads(stamp.read_text()) == key:
        return root
    shutil.rmtree(workdir / "avgzsl_benchmark_non_averaged_datasets", ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)
    t0 = time.perf_counter()
    write_their_layout(root, repo, clips, cfg["feature_extraction_method"], cfg["zero_shot_split"])
    stamp.write_text(json.dumps(key))
    print(f"  wrote their layout under {root} in {time.perf_counter() - t0:.1f} s")
    return root


def their_model(repo: Path, cfg: dict, device: torch.device):
    """Multimodal_Sequence_Transformer with the config's model settings, as main.py:194-210 builds it."""
    params = import_their_module(repo, "utils_improvements", PROJECT).get_model_params(
        cfg["lr"], cfg["reg_loss"], cfg["embedding_dropout"], cfg["decoder_dropout"], cfg["additional_dropout"],
        cfg["embeddings_hidden_size"], cfg["decoder_hidden_size"], cfg["embeddings_batch_norm"], cfg["rec_loss"],
        cfg["cross_entropy_loss"], cfg["transformer_use_embedding_net"], cfg["transformer_dim"],
        cfg["transformer_depth"], cfg["transformer_heads"], cfg["transformer_dim_head"], cfg["transformer_mlp_dim"],
        cfg["transformer_dropout"], cfg["transformer_embedding_dim"], cfg["transformer_embedding_time_len"],
        cfg["transformer_embedding_dropout"], cfg["transformer_embedding_time_embed_type"],
        cfg["transformer_embedding_fourier_scale"], False, cfg["lr_scheduler"], cfg["optimizer"],
        cfg["use_self_attention"], cfg["use_cross_attention"], False, False, False,
        cfg["transformer_use_class_token"], cfg["transformer_embedding_modality"])
    model_mod = import_their_module(repo, "model_sequence", PROJECT)
    model = model_mod.Multimodal_Sequence_Transformer(params, input_size_audio=cfg["input_size_audio"],
                                                      input_size_video=cfg["input_size_video"])
    return model.to(device)


class _FirstBatchClock:
    """Their DataLoader, noting when its first batch arrives: an epoch's start (forking the workers, their first
    batches) is paid once an epoch, so a shortened epoch scales only what follows it."""

    def __init__(self, loader: data.DataLoader):
        self.loader, self.dataset = loader, loader.dataset
        self.first_batch_at = float("nan")

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        batches = iter(self.loader)
        first = next(batches)
        self.first_batch_at = time.perf_counter()
        yield first
        yield from batches


class _NoWriter:
    """Their train_step logs to a tensorboard SummaryWriter; nothing is kept here."""

    def add_scalar(self, *args, **kwargs) -> None:
        pass


class _NoStats:
    def update(self, row) -> None:
        pass


def their_epochs(repo: Path, clips, workdir: Path, device: torch.device, epochs: int,
                 batches: int) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """`epochs` of their stage-1 epochs (after one warm-up), `batches` batches each: a title, and per timed epoch
    the seconds until its first batch arrived, the seconds of its batches after that, and the floor measured
    after it (for `batches` steps)."""
    cfg = yaml.safe_load((repo / BEST_CONFIG).read_text())
    workdir.mkdir(parents=True, exist_ok=True)
    root = prepared_root(workdir, repo, clips, cfg)
    dataset_mod = import_their_module(repo, "dataset", PROJECT)
    train_mod = import_their_module(repo, "train", PROJECT)
    dataset_mod.np = _NumpyRaggedArrays()
    dataset_mod.tqdm = train_mod.tqdm = functools.partial(tqdm, disable=True)
    sampler_mod = import_their_module(repo, "sampler", PROJECT)
    args = Namespace(root_dir=root, dataset_name="VGGSound", feature_extraction_method=cfg["feature_extraction_method"],
                     zero_shot_split=cfg["zero_shot_split"], z_score_inputs=False,
                     cross_entropy_loss=cfg["cross_entropy_loss"])
    here = Path.cwd()
    os.chdir(workdir)  # their processed-feature cache lives under the working directory
    try:
        t0 = time.perf_counter()
        contrastive = dataset_mod.ContrastiveDataset(dataset_mod.VGGSoundDataset(args, "train", "train"))
        print(f"  their dataset: {len(contrastive)} train clips, {len(contrastive.target_to_indices)} classes "
              f"(loaded / cached in {time.perf_counter() - t0:.1f} s)")
    finally:
        os.chdir(here)
    collator = dataset_mod.DefaultCollator(mode=cfg["batch_seqlen_train"], max_len=cfg["batch_seqlen_train_maxlen"],
                                           trim=cfg["batch_seqlen_train_trim"], rate_video=1, rate_audio=1)
    logger = logging.getLogger("tcaf_epoch.their_code")

    def loader(n_batches: int, workers: int) -> data.DataLoader:
        sampler = sampler_mod.SamplerFactory(logger).get(
            class_idxs=list(contrastive.target_to_indices.values()), batch_size=cfg["bs"], n_batches=n_batches,
            alpha=1, kind="random")
        return data.DataLoader(dataset=contrastive, batch_sampler=sampler, collate_fn=collator, num_workers=workers)

    with cuda_calls_stay_on(device):
        model = their_model(repo, cfg, device)

        def epoch(data_loader, index: int) -> None:
            train_mod.train_step(data_loader, model, None, None, index, epochs + 1, _NoWriter(), device, [],
                                 _NoStats(), args)

        with ProductRecorder() as recorder:  # one batch of their loop: forward, backward, get_embeddings
            epoch(loader(1, 0), 0)
        starts, rests, floors = [], [], []
        epoch_loader = _FirstBatchClock(loader(batches, LOADER_WORKERS))
        for index in range(epochs + 1):
            sync(device)
            t0 = time.perf_counter()
            epoch(epoch_loader, index)
            sync(device)
            if index:  # the first epoch is a warm-up
                starts.append(epoch_loader.first_batch_at - t0)
                rests.append(time.perf_counter() - epoch_loader.first_batch_at)
                floors.append(product_floor(recorder.calls, device) * batches)
    title = (f"TCaF's own code (TCAF-GZSL {BEST_CONFIG}), batch {cfg['bs']}, {LOADER_WORKERS} loader workers, "
             f"{len(recorder.calls)} products/step, {product_flops(recorder.calls) / 1e9:.2f} GFLOP in products/step")
    return title, np.array(starts), np.array(rests), np.array(floors)
