"""Training pairs per second: the `avca` preset here vs AVCA-GZSL's own training loop, same data, same machine.

Synthetic features of AudioSetZSL's real sizes (93,865 train / 31,271 val / 31,280 test clips, 33 classes of
which 23 seen, 1024-d audio and video, 300-d text). Both sides train AVGZSLNet with AVCA's settings (batch
256, Adam 1e-3, BatchNorm nets, dropout 0.8 / 0.5, normalised decoder outputs) on the seen-class train
clips; a pair is one (positive, negative) tuple of a batch.

* ours: `train_model` with the `avca` preset; an epoch's time is read between two epoch-end log lines, so
  it excludes the one-off setup (copying inputs, building the model);
* theirs (with `--avca-repo PATH`, a checkout of AVCA-GZSL): the features are written in their AudioSetZSL
  layout (`class-split/*.txt`, `features/<method>/{audio,video}/{trn,val,tst}/<class>.h5`,
  `text/word_embeddings-dict-33.npy`), their `AudioSetZSLDataset` preprocesses them once (not timed), and
  one epoch is their `src.train.train_step` over their loader exactly as main.py builds it
  (ContrastiveDataset, class-balanced WeightedRandomBatchSampler, DataLoader with 8 workers), their
  AVGZSLNet, AVGZSLLoss and Adam. Their modules are imported from the checkout; `torchvision` and
  `torch.utils.tensorboard`, which they import but this loop never uses, are stubbed when absent.

The sides alternate epoch by epoch (ours, theirs, ours, ...) so that drift in a shared machine's speed hits
both; the report gives each side's median and the ratio of medians, and the ratio in every round. Last, each
side's data path alone (drawing and gathering pairs, no training) is timed for one epoch's batches.
Their CJME cannot run on AudioSetZSL (their AudioSetZSLDataset has no `map_embeddings_target`, which
their CJME training step reads), so only AVGZSLNet is compared.

Our side runs once per `--precision` value each round (default both: float32, and bfloat16 autocast,
`train.precision: bfloat16`). Last, the float32 matrix products of one of our steps are timed alone
(benchmarks/_matmul_floor.py): their epoch divided by that floor bounds the ratio any float32 training can
reach on the machine, which on a small CPU, where products dominate both sides, is below the goal of 3.

Usage: python benchmarks/avca_throughput.py [--avca-repo PATH] [--batches 500] [--rounds 3] [--threads N]
                                             [--eval-per-class N] [--workdir DIR] [--precision float32,bfloat16]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
import tempfile
import time
import types
from pathlib import Path

import h5py
import numpy as np
import torch

from avgzsl.formats.feature_split import FeatureSplit
from avgzsl.formats.manifest import ClassTable
from avgzsl.runtime.cpu_memory import keep_freed_memory
from avgzsl.settings.experiment import build_experiment
from avgzsl.training.train import ClassPairSampler, PairBatcher, train_model, training_clips

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _avca_repo import stub_unused_imports  # noqa: E402
from _matmul_floor import ProductRecorder, product_floor, training_step  # noqa: E402
from _timing import Spread, TimingReport, machine_load  # noqa: E402

N_TRAIN, N_VAL, N_TEST, N_CLASSES, N_SEEN = 93_865, 31_271, 31_280, 33, 23
N_TRAIN_SEEN = 72_207  # AudioSetZSL's seen-class train clips: the ones both sides train on
DIM_AV, DIM_TEXT, BATCH = 1024, 300, 256


def class_names() -> list[str]:
    return [f"class{i:02d}" for i in range(N_CLASSES)]  # sorted order = index order, as their loader sorts


def synthetic_labels(n: int, n_seen_rows: int | None, rng: np.random.Generator) -> np.ndarray:
    """Labels with a realistic split between seen classes (0..22) and unseen ones (23..32)."""
    n_seen_rows = round(n * N_TRAIN_SEEN / N_TRAIN) if n_seen_rows is None else n_seen_rows
    seen = rng.integers(0, N_SEEN, n_seen_rows)
    unseen = rng.integers(N_SEEN, N_CLASSES, n - n_seen_rows)
    return np.sort(np.concatenate([seen, unseen]))


def synthetic_data(eval_per_class: int | None, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    sizes = {"trn": (N_TRAIN, N_TRAIN_SEEN), "val": (N_VAL, None), "tst": (N_TEST, None)}
    if eval_per_class:
        sizes["val"] = sizes["tst"] = (eval_per_class * N_CLASSES, eval_per_class * N_SEEN)
    out = {}
    for split, (n, n_seen_rows) in sizes.items():
        labels = synthetic_labels(n, n_seen_rows, rng)
        out[split] = {
            "labels": labels,
            "audio": rng.standard_normal((n, DIM_AV), dtype=np.float32),
            "video": rng.standard_normal((n, DIM_AV), dtype=np.float32),
        }
    out["text"] = {"vectors": rng.standard_normal((N_CLASSES, DIM_TEXT), dtype=np.float32)}
    return out


# ---------------------------------------------------------------- ours


def our_split(data: dict, split: str) -> FeatureSplit:
    d = data[split]
    n = len(d["labels"])
    return FeatureSplit(
        clip_ids=[f"{split}-{i}" for i in range(n)],
        audio=torch.from_numpy(d["audio"]), video=torch.from_numpy(d["video"]),
        has_audio=torch.ones(n, dtype=torch.bool), has_video=torch.ones(n, dtype=torch.bool),
        labels=torch.from_numpy(d["labels"].astype(np.int64)),
        text=torch.from_numpy(data["text"]["vectors"]),
        classes=ClassTable(names=class_names(), seen=np.arange(N_CLASSES) < N_SEEN),
    )


def our_config(batches: int, device: str, seed: int = 0, precision: str = "float32"):
    return build_experiment(
        name="avca-bench", preset_name="avca", model={"audio_dim": DIM_AV, "video_dim": DIM_AV},
        train={"epochs": 2, "batches_per_epoch": batches, "select_epoch": False, "lr_schedule": "none",
               "device": device, "seed": seed, "precision": precision},
    )


def our_epoch_seconds(train: FeatureSplit, batches: int, device: str, seed: int, precision: str) -> float:
    """One timed epoch of the avca preset: the second of two, timed between their epoch-end log lines."""
    cfg = our_config(batches, device, seed, precision)
    stamps: list[float] = []
    train_model(cfg, train, None, progress=False, log=lambda msg: stamps.append(time.perf_counter())
                if msg.startswith("epoch=") else None)
    return stamps[1] - stamps[0]


def float32_product_floor(train: FeatureSplit, batches: int, device: str) -> float:
    """Seconds the matrix products of one float32 epoch take alone (benchmarks/_matmul_floor.py): no float32
    implementation of this training, however lean its data path, can run an epoch faster."""
    dev = torch.device(device)
    step = training_step(our_config(batches, device), training_clips(train, ("audio", "video")), dev, N_SEEN)
    with ProductRecorder() as recorder:
        step()
    return product_floor(recorder.calls, dev) * batches


def our_loading_seconds(train: FeatureSplit, batches: int) -> float:
    """Drawing and gathering `batches` batches of pairs, without training: this project's data path."""
    data = training_clips(train, ("audio", "video"))
    labels = data.labels
    sampler = ClassPairSampler(labels, generator=torch.Generator().manual_seed(0), device=torch.device("cpu"))
    batcher = PairBatcher(data.audio, data.video, data.text, labels, data.text[data.seen])
    start = time.perf_counter()
    for _ in range(batches):
        batcher(*sampler.sample(BATCH))
    return time.perf_counter() - start


# ---------------------------------------------------------------- theirs


def write_avca_layout(data: dict, root: Path, method: str) -> None:
    """The features in the layout AVCA-GZSL's AudioSetZSLDataset reads (their src/dataset.py:386-564)."""
    names = class_names()
    split_dir = root / "class-split"
    split_dir.mkdir(parents=True, exist_ok=True)
    for file, subset in (("all_class.txt", names), ("seen_class.txt", names[:N_SEEN]),
                         ("unseen_class.txt", names[N_SEEN:])):
        (split_dir / file).write_text("\n".join(f"'{n}'," for n in subset) + "\n")
    feats = root / "features" / method
    for split in ("trn", "val", "tst"):
        d = data[split]
        for modality in ("audio", "video"):
            folder = feats / modality / split
            folder.mkdir(parents=True, exist_ok=True)
            for c, name in enumerate(names):
                rows = np.flatnonzero(d["labels"] == c)
                if rows.size == 0:
                    continue
                with h5py.File(folder / f"{name}.h5", "w") as h5:
                    h5["data"] = d[modality][rows]
                    h5["video_urls"] = np.array([f"{split}-{i}".encode() for i in rows])
    (feats / "text").mkdir(parents=True, exist_ok=True)
    np.save(feats / "text" / "word_embeddings-dict-33.npy", dict(zip(names, data["text"]["vectors"])))


class TheirLoop:
    """AVCA-GZSL's AVGZSLNet training epoch, set up as their main.py does for AudioSetZSL."""

    def __init__(self, repo: Path, root: Path, workdir: Path, batches: int, device: str):
        stub_unused_imports()
        sys.path.insert(0, str(repo))
        self.dataset = importlib.import_module("src.dataset")
        self.loss = importlib.import_module("src.loss")
        self.model_mod = importlib.import_module("src.model")
        self.sampler = importlib.import_module("src.sampler")
        self.train = importlib.import_module("src.train")
        self.args = argparse.Namespace(  # their run-script flags for AVGZSLNet + src/args.py defaults
            root_dir=root, feature_extraction_method=Path("bench"), dataset_name="AudioSetZSL",
            input_size=DIM_AV, input_size_audio=DIM_AV, input_size_video=DIM_AV, embeddings_hidden_size=1024,
            decoder_hidden_size=64, embedding_dropout=0.8, decoder_dropout=0.5, embedding_use_bn=True,
            decoder_use_bn=True, normalize_decoder_outputs=True, margin=1.0, lr=1e-3, bs=BATCH,
            n_batches=batches, z_score_inputs=False, manual_text_word2vec=False, cjme=False, device=device,
        )
        logger = logging.getLogger("avca-bench")
        with contextlib.chdir(workdir):  # they write processed pickles under the working directory
            train_set = self.dataset.AudioSetZSLDataset(args=self.args, dataset_split="train", zero_shot_mode="seen")
        contrastive = self.dataset.ContrastiveDataset(train_set)
        sampler = self.sampler.SamplerFactory(logger).get(
            class_idxs=list(contrastive.target_to_indices.values()), batch_size=BATCH, n_batches=batches,
            alpha=1, kind="random",
        )
        self.loader = torch.utils.data.DataLoader(dataset=contrastive, batch_sampler=sampler, num_workers=8)
        self.model = self.model_mod.AVGZSLNet(self.args).to(device)
        self.criterion = self.loss.AVGZSLLoss(margin=1.0, distance_fn=self.loss.L2Loss())
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.device = device
        self.epoch = 0

    def loading_seconds(self) -> float:
        """One pass of their loader alone (8 workers, per-sample __getitem__, collation), no training."""
        start = time.perf_counter()
        for _ in self.loader:
            pass
        return time.perf_counter() - start

    def epoch_seconds(self) -> float:
        stats = types.SimpleNamespace(update=lambda row: None)
        start = time.perf_counter()
        self.train.train_step(self.loader, self.model, self.criterion, self.optimizer, self.epoch, 1, None,
                              self.device, [], stats, False, False, False, False, self.args)
        self.epoch += 1
        return time.perf_counter() - start


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--avca-repo", type=Path, help="a checkout of AVCA-GZSL (the folder holding src/ and main.py)")
    parser.add_argument("--batches", type=int, default=500, help="batches per timed epoch (their run scripts: 500)")
    parser.add_argument("--rounds", type=int, default=3, help="timed epochs per side, alternating")
    parser.add_argument("--threads", type=int, help="torch intra-op threads for both sides")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--eval-per-class", type=int,
                        help="write only N val and N test clips per class (neither side reads them while training)")
    parser.add_argument("--workdir", type=Path, help="where their layout and pickles go (default: a temp folder)")
    parser.add_argument("--precision", default="float32,bfloat16",
                        help="comma-separated train.precision values to time on our side (float32, bfloat16)")
    args = parser.parse_args()
    precisions = args.precision.split(",")
    start_load, start_load1 = machine_load(), os.getloadavg()[0]
    keep_freed_memory()  # as the workflow's training jobs do (avgzsl/runtime/cpu_memory.py)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.avca_repo is not None and not (args.avca_repo / "src" / "model.py").is_file():
        raise SystemExit(f"error: {args.avca_repo} is not an AVCA-GZSL checkout (no src/model.py)")

    t0 = time.perf_counter()
    data = synthetic_data(args.eval_per_class)
    train = our_split(data, "trn")
    print(f"synthetic data: {len(train)} train clips ({N_TRAIN_SEEN} seen-class), batch {BATCH}, "
          f"{args.batches} batches an epoch, {torch.get_num_threads()} torch threads ({time.perf_counter() - t0:.1f} s)")

    theirs = None
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.workdir or Path(tmp)
        if args.avca_repo is not None:
            t0 = time.perf_counter()
            root = workdir / "AudioSetZSL"
            write_avca_layout(data, root, "bench")
            theirs = TheirLoop(args.avca_repo.resolve(), root, workdir, args.batches, args.device)
            print(f"their layout written and preprocessed in {time.perf_counter() - t0:.0f} s (not timed below)")
        del data
        pairs = args.batches * BATCH
        ours_s: dict[str, list[float]] = {p: [] for p in precisions}
        theirs_s: list[float] = []
        for r in range(args.rounds):
            line = f"round {r + 1}:"
            for precision in precisions:
                ours_s[precision].append(our_epoch_seconds(train, args.batches, args.device, r, precision))
                line += f" ours/{precision} {pairs / ours_s[precision][-1]:6.0f} pairs/s ({ours_s[precision][-1]:.2f} s)"
            if theirs is not None:
                theirs_s.append(theirs.epoch_seconds())
                line += f"   theirs {pairs / theirs_s[-1]:6.0f} pairs/s ({theirs_s[-1]:.2f} s)"
            print(line + f"   [{machine_load()}]", flush=True)
    load_ours = our_loading_seconds(train, args.batches)
    line = f"data path alone, {args.batches} batches: ours {pairs / load_ours:.0f} pairs/s ({load_ours:.2f} s)"
    if theirs is not None:
        load_theirs = theirs.loading_seconds()
        line += f"   theirs {pairs / load_theirs:.0f} pairs/s ({load_theirs:.2f} s)"
    print(line)
    floor = float32_product_floor(train, args.batches, args.device)
    print(f"float32 matrix products alone: {floor:.2f} s an epoch ({pairs / floor:.0f} pairs/s)")

    report = TimingReport(start_load=start_load, start_load1=start_load1)
    print("epoch seconds:")
    spreads = {p: report.add(Spread(f"ours, {p}", ours_s[p])) for p in precisions}
    if theirs_s:
        theirs_spread = report.add(Spread("theirs", theirs_s))
        for p, spread in spreads.items():
            print(f"ratio (ours/{p} over theirs, pairs per second): {theirs_spread.median / spread.median:.2f}"
                  "  (goal >= 3)")
        print(f"bound for any float32 training on this machine (their epoch / float32 products alone): "
              f"{theirs_spread.median / floor:.2f}")
    report.finish()


if __name__ == "__main__":
    os.environ.setdefault("TQDM_DISABLE", "1")
    main()
