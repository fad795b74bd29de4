"""Workflow figures: training curves, t-SNE of embeddings (the paper's Fig. 6), critical-difference diagram (Fig. 7)."""

from __future__ import annotations

import json
import logging
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from avgzsl.evaluation.metrics import per_class_accuracy, scored_rows
from avgzsl.evaluation.saved_scores import read_scores
from avgzsl.reporting.curves import first_seed_dir, plot_training_curves
from avgzsl.reporting.names import both_label
from avgzsl.reporting.paper_tables import PAPER_EXPERIMENTS, TABLE1, extra_row_label

log = logging.getLogger("avgzsl.reporting.figures")


def tsne_perplexity(n_points: int) -> float:
    """sqrt(N), kept within [2, 30] and below N - 1: neighbourhoods about the size of a class in the demo
    (tens of points) without making every point a neighbour of every other in small sets."""
    return float(min(30.0, max(2.0, np.sqrt(n_points)), max(1.0, n_points - 2)))


def knn_class_purity(points: np.ndarray, labels: np.ndarray, k: int = 5) -> float:
    """Mean fraction of each point's k nearest other points (Euclidean) that share its class."""
    from sklearn.neighbors import NearestNeighbors

    k = min(k, len(points) - 1)
    if k < 1:
        return float("nan")
    idx = NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(points, return_distance=False)[:, 1:]
    return float((labels[idx] == labels[:, None]).mean())


def chance_purity(labels: np.ndarray) -> float:
    """The k-NN purity of a map with no class structure: the chance that another point shares the class."""
    _, counts = np.unique(labels, return_counts=True)
    return float(((counts * (counts - 1)).sum()) / (len(labels) * (len(labels) - 1)))


def plot_tsne(runs: Path, experiments: dict, features: dict, out: str, *, seed: int = 0, k: int = 5) -> dict:
    """t-SNE of the audio and video embeddings of every unseen-class val + tst clip (classes training never
    saw), class-text embeddings as stars. Each panel prints the k-NN class purity of the embedding and of
    the 2-D map against chance, so the picture says whether classes separate. Returns those numbers."""
    from sklearn.manifold import TSNE

    from avgzsl.datasets.loading import load_feature_splits
    from avgzsl.training.checkpoint import load_checkpoint

    # the paper's two systems, and every deep experiment outside the paper's tables (a user's own method)
    named = [n for n in experiments if n in ("avgzslnet", "cjme") or n not in PAPER_EXPERIMENTS]
    systems = [n for n in named if "baseline" not in experiments[n]
               and (first_seed_dir(runs, n, experiments[n]) / "checkpoint.pt").is_file()]
    splits = load_feature_splits(**features)
    held_out = [splits[s] for s in ("val", "tst") if s in splits]
    data = held_out[0] if len(held_out) == 1 else held_out[0].concat(held_out[1])
    labels_all = data.labels.numpy()
    unseen = np.flatnonzero(~np.asarray(data.classes.seen, bool))
    colours = plt.get_cmap("tab10" if len(unseen) <= 10 else "tab20")
    fig, axes = plt.subplots(max(1, len(systems)), 2, figsize=(11, 5 * max(1, len(systems))), squeeze=False)
    purity: dict = {}
    for r, name in enumerate(systems):
        # the config (the user's) names the method, so a method of their own may be imported to load its run
        model, _, _ = load_checkpoint(first_seed_dir(runs, name, experiments[name]) / "checkpoint.pt",
                                      device="cpu", method=experiments[name].get("model", {}).get("kind"))
        model.eval()
        for col, modality in enumerate(("audio", "video")):
            ax = axes[r, col]
            has = (data.has_audio if modality == "audio" else data.has_video).numpy()
            rows = np.flatnonzero(np.isin(labels_all, unseen) & has)
            with torch.no_grad():
                x = data.audio[rows] if modality == "audio" else data.video[rows]
                mapped = model.map_points(modality, x, data.text[unseen])
            if len(rows) < 3 or mapped is None:
                why = "too few" if mapped is not None else f"{name} has no {modality} embedding space"
                ax.text(0.5, 0.5, f"{len(rows)} unseen-class clips with {modality}: {why}", ha="center")
                ax.axis("off")
                continue
            emb, text = mapped[0].numpy(), mapped[1].numpy()
            labels = labels_all[rows]
            points = np.concatenate([emb, text])
            perplexity = tsne_perplexity(len(points))
            xy = TSNE(n_components=2, perplexity=perplexity, random_state=seed, init="pca").fit_transform(points)
            numbers = {"embedding": knn_class_purity(emb, labels, k), "map": knn_class_purity(xy[: len(rows)], labels, k),
                       "chance": chance_purity(labels), "clips": len(rows), "perplexity": perplexity}
            purity[f"{name}/{modality}"] = numbers
            log.info("t-SNE %s %s: %s", name, modality, numbers)
            for j, c in enumerate(unseen):
                mask = labels == c
                ax.scatter(xy[: len(rows)][mask, 0], xy[: len(rows)][mask, 1], s=12, color=colours(j % colours.N),
                           label=data.classes.names[c])
                ax.scatter(*xy[len(rows) + j], marker="*", s=250, color=colours(j % colours.N), edgecolor="black")
            ax.set_title(f"{name}: {modality} embeddings of {len(rows)} unseen-class val+tst clips\n"
                         f"{k}-NN class purity: embedding {numbers['embedding']:.2f}, 2-D map "
                         f"{numbers['map']:.2f}, chance {numbers['chance']:.2f} (perplexity {perplexity:.0f})",
                         fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].legend(fontsize=7, ncol=2)
    if not systems:
        axes[0, 0].text(0.5, 0.5, "no trained avgzslnet / cjme experiment", ha="center")
    fig.suptitle("t-SNE of embeddings of classes never trained on (stars: class-text embeddings)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return purity


def critical_difference_systems(experiments: dict) -> list[tuple[str, str, str | None]]:
    """(experiment, modality, paper label) of every system Table 1 shows: the paper's rows that ran, then each
    other experiment's audio, video and both rows (label None: named from its run, as Table 1 names it)."""
    systems = [(row.experiment, row.modality, row.label) for row in TABLE1 if row.experiment in experiments]
    for name in experiments:
        if name not in PAPER_EXPERIMENTS:  # the paper's other tables' rows (ablations) stay out, as in Table 1
            systems += [(name, modality, None) for modality in ("audio", "video", "both")]
    return systems


def _ranked_beta(run_dir: Path, modality: str, protocol: str) -> float | None:
    """The beta of the numbers Table 1 leads with: calibrated (the run's metrics.json) under AVCA-GZSL's protocol,
    0 otherwise; None when the calibrated beta is not recorded."""
    if protocol != "avca":
        return 0.0
    path = run_dir / "metrics.json"
    metrics = json.loads(path.read_text()) if path.is_file() else {}
    return metrics.get("classification", {}).get(modality, {}).get("calibrated", {}).get("beta")


def critical_difference_scores(runs: Path, experiments: dict) -> pd.DataFrame:
    """Per-class GZSL accuracy (rows: classes) of each system of Table 1 whose first seed's scores hold its row,
    at the beta of the columns Table 1 leads with (`_ranked_beta`). attrs: "seen" (the classes' seen flags)
    and "beta" (which beta, in words)."""
    columns, seen, calibrated = {}, None, False
    scored: dict[str, list] = {}  # experiment -> [(column, distances, beta)] of the rows already ranked
    for name, modality, label in critical_difference_systems(experiments):
        spec = experiments[name]
        seed = spec.get("seeds", [0])[0] if "baseline" not in spec else 0
        path = runs / name / f"seed{seed}" / "scores.npz"
        if not path.is_file():
            continue
        z = read_scores(path)
        key = f"distances_{modality}"
        if key not in z:
            continue
        run_info = json.loads(str(z["run_info"])) if "run_info" in z else {}
        beta = _ranked_beta(path.parent, modality, run_info.get("protocol", "paper"))
        if beta is None:
            log.warning("critical-difference diagram: %s [%s] left out: no calibrated beta in its metrics.json",
                        name, modality)
            continue
        calibrated |= run_info.get("protocol") == "avca"
        # the clips the reported row scores (the run's missing-modality policy), as in metrics.json
        keep = scored_rows(modality, z["has_audio"], z["has_video"], run_info.get("missing_modality", "exclude"))
        fusion = run_info.get("both_fusion")
        label = label or extra_row_label(name, run_info.get("model"), run_info.get("label"))
        label = both_label(label, fusion) if modality == "both" or fusion == "video_branch" else label
        seen = np.asarray(z["seen"], bool)
        column = f"{label} [{modality}]"
        if column in columns:  # two experiments of one method and name: the experiment tells them apart
            column = f"{label} ({name}) [{modality}]"
        for earlier, earlier_distances, earlier_beta in scored.get(name, []):
            # one system reported under several rows (TCaF's, AVCA's video branch): ranked once, as its last row
            if earlier in columns and earlier_beta == beta and np.array_equal(earlier_distances, z[key]):
                del columns[earlier]
        scored.setdefault(name, []).append((column, z[key], beta))
        columns[column] = per_class_accuracy(z[key][keep], z["labels"][keep], len(z["class_names"]), seen=seen,
                                             beta=beta)
    table = pd.DataFrame(columns)
    table.attrs.update(seen=seen, beta="calibrated β chosen on val, as in Table 1's leading columns" if calibrated
                       else "β = 0")
    return table


def critical_difference_caption(result: dict, table: pd.DataFrame) -> str:
    """What the diagram tests, in words: the blocks (how many seen and unseen classes), their score, and that it
    is not Table 1's HM, then the Friedman p and Nemenyi CD."""
    seen = table.attrs.get("seen")
    kept = ~table.index.isin(result["dropped_blocks"])
    n_seen = int(np.asarray(seen, bool)[np.asarray(table.index)[kept]].sum()) if seen is not None else None
    counts = f" ({n_seen} seen, {result['n_blocks'] - n_seen} unseen)" if n_seen is not None else ""
    return (f"Blocks: N = {result['n_blocks']} test classes{counts}, each scored by its GZSL accuracy (all classes "
            f"candidates, {table.attrs.get('beta', 'β = 0')}) in the system's Table 1 row, first seed. This ranks "
            "per-class accuracy, where every class weighs the same (seen classes as much as unseen); it does not "
            f"test Table 1's HM. Friedman p = {result['p_value']:.3g}; Nemenyi CD = {result['critical_difference']:.3f} "
            f"(alpha = {result['alpha']}).")


def plot_critical_difference_figure(runs: Path, experiments: dict, out: str) -> None:
    """Friedman test + Nemenyi CD over Table 1's systems, blocks = classes (per-class accuracy, first seed),
    captioned with what it tests."""
    from avgzsl.evaluation.significance import friedman_nemenyi, plot_critical_difference

    table = critical_difference_scores(runs, experiments)
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
    plot_critical_difference(result, out, title=textwrap.fill(critical_difference_caption(result, table), 110))


def make_figures(*, experiments: dict, runs: str, features: dict, curves_out: str, tsne_out: str, cd_out: str):
    runs = Path(runs)
    plot_training_curves(runs, experiments, curves_out)
    plot_tsne(runs, experiments, features, tsne_out)
    plot_critical_difference_figure(runs, experiments, cd_out)
