"""Workflow figures: training curves, t-SNE of embeddings (the paper's Fig. 6), critical-difference diagram (Fig. 7)."""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from avgzsl.evaluate import read_scores  # noqa: E402
from avgzsl.metrics import per_class_accuracy  # noqa: E402
from avgzsl.tables import TABLE1  # noqa: E402

log = logging.getLogger("avgzsl.figures")


def plot_training_curves(runs: Path, experiments: dict, out: str) -> None:
    deep = [n for n, e in experiments.items() if "baseline" not in e]
    fig, (ax_loss, ax_hm) = plt.subplots(1, 2, figsize=(11, 4))
    for name in deep:
        path = runs / name / f"seed{experiments[name]['seeds'][0]}" / "history.csv"
        if not path.is_file():
            continue
        h = pd.read_csv(path)
        h = h[h["phase"].isna()] if "phase" in h else h
        ax_loss.plot(h["epoch"], h["loss"], label=name)
        if "val_hm" in h:
            ax_hm.plot(h["epoch"], 100 * h["val_hm"], label=name)
    ax_loss.set(xlabel="epoch", ylabel="training loss", yscale="log", title="training loss (first seed)")
    ax_hm.set(xlabel="epoch", ylabel="validation HM (%)", title="validation HM, both modalities, beta = 0")
    ax_hm.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def plot_tsne(runs: Path, experiments: dict, features: dict, out: str, *, n_classes: int = 5,
              per_class: int = 40, seed: int = 0) -> None:
    """Audio and video test embeddings of a few seen classes with their class-text embeddings as stars."""
    from sklearn.manifold import TSNE

    from avgzsl.experiments import load_feature_splits
    from avgzsl.train import load_checkpoint

    systems = [n for n in ("avgzslnet", "cjme") if n in experiments and "baseline" not in experiments[n]]
    test = load_feature_splits(**features)["tst"]
    rng = np.random.default_rng(seed)
    seen_ids = np.flatnonzero(test.classes.seen)
    chosen = np.sort(rng.choice(seen_ids, size=min(n_classes, len(seen_ids)), replace=False))
    rows = []
    for c in chosen:
        idx = np.flatnonzero((test.labels.numpy() == c) & test.has_audio.numpy() & test.has_video.numpy())
        rows.extend(rng.permutation(idx)[:per_class])
    rows = np.array(sorted(rows))
    fig, axes = plt.subplots(len(systems) or 1, 2, figsize=(10, 4.5 * max(1, len(systems))), squeeze=False)
    colours = plt.get_cmap("tab10")
    for r, name in enumerate(systems):
        ckpt = runs / name / f"seed{experiments[name]['seeds'][0]}" / "checkpoint.pt"
        model, _, _ = load_checkpoint(ckpt, device="cpu")
        with torch.no_grad():
            t = model.embed_text(test.text[chosen]).numpy()
            emb = {"audio": model.embed_audio(test.audio[rows]).numpy(),
                   "video": model.embed_video(test.video[rows]).numpy()}
        for col, modality in enumerate(("audio", "video")):
            points = np.concatenate([emb[modality], t])
            xy = TSNE(n_components=2, perplexity=min(30, len(points) - 1), random_state=seed,
                      init="pca").fit_transform(points)
            ax = axes[r, col]
            labels = test.labels.numpy()[rows]
            for k, c in enumerate(chosen):
                mask = labels == c
                ax.scatter(xy[: len(rows)][mask, 0], xy[: len(rows)][mask, 1], s=10, color=colours(k),
                           label=test.classes.names[c])
                ax.scatter(*xy[len(rows) + k], marker="*", s=250, color=colours(k), edgecolor="black")
            ax.set_title(f"{name}: {modality} embeddings (stars: class text)")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].legend(fontsize=7)
    if not systems:
        axes[0, 0].text(0.5, 0.5, "no avgzslnet / cjme experiment configured", ha="center")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def plot_critical_difference_figure(runs: Path, experiments: dict, out: str) -> None:
    """Friedman test + Nemenyi CD over Table 1's systems, blocks = classes (per-class accuracy, seed 0)."""
    from avgzsl.significance import friedman_nemenyi, plot_critical_difference

    columns = {}
    for row in TABLE1:
        if row.experiment not in experiments:
            continue
        spec = experiments[row.experiment]
        seed = spec.get("seeds", [0])[0] if "baseline" not in spec else 0
        path = runs / row.experiment / f"seed{seed}" / "scores.npz"
        if not path.is_file():
            continue
        z = read_scores(path)
        key = f"distances_{row.modality}"
        if key not in z:
            continue
        columns[f"{row.label} [{row.modality}]"] = per_class_accuracy(z[key], z["labels"], len(z["class_names"]))
    table = pd.DataFrame(columns)
    if table.shape[1] < 2:
        fig, ax = plt.subplots(figsize=(6, 2))
        ax.text(0.5, 0.5, f"need >= 2 systems for a Friedman test, have {table.shape[1]}", ha="center")
        ax.axis("off")
        fig.savefig(out, dpi=120)
        plt.close(fig)
        return
    result = friedman_nemenyi(table)
    log.info("Friedman chi2=%.3f p=%.3g CD=%.4f", result["statistic"], result["p_value"],
             result["critical_difference"])
    plot_critical_difference(result, out)


def make_figures(*, experiments: dict, runs: str, features: dict, curves_out: str, tsne_out: str, cd_out: str):
    runs = Path(runs)
    plot_training_curves(runs, experiments, curves_out)
    plot_tsne(runs, experiments, features, tsne_out)
    plot_critical_difference_figure(runs, experiments, cd_out)
