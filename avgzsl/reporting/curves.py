"""The training-curves figure: per deep experiment, the validation number that selected the epoch, and the selection.

Each panel plots the number the run compared across epochs (metrics.json `selection.by`: calibrated val HM
under AVCA-GZSL's protocol, val HM at beta = 0 otherwise), on the row that chose (`selection.row`), and marks
the selected epoch with its value and beta, so the figure shows the choice metrics.json records. Stage-1
epochs only: the AVCA protocol's retraining on trn + val is read at the selected epoch and selects nothing.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from avgzsl.evaluation.protocol import selection_metric

METRIC_LABELS = {"val_hm": "val HM at β = 0", "val_hm_calibrated": "calibrated val HM, each epoch at its val-best β"}
AXIS_LABELS = {"val_hm": "val HM, β = 0 (%)", "val_hm_calibrated": "calibrated val HM (%)"}


@dataclass(frozen=True)
class Panel:
    """One experiment's curve: the selection number per epoch (%), the training loss, and the selection."""

    name: str
    epochs: np.ndarray
    values: np.ndarray  # the selection number, %
    loss: np.ndarray
    metric: str  # history column plotted: val_hm or val_hm_calibrated
    row: str | None  # the test modality the number was measured on
    selected_epoch: int | None
    selected_value: float | None  # %, the number that won
    beta: float | None  # the selected epoch's val-best beta
    test_beta: float | None  # the beta the row is tested with (metrics.json `calibration`)


def first_seed_dir(runs: Path, name: str, spec: dict) -> Path:
    return runs / name / f"seed{spec.get('seeds', [0])[0]}"


def _selection(metrics: dict, history: pd.DataFrame) -> dict:
    """metrics.json's `selection`, or one rebuilt from its protocol and selected_epoch for a run written before
    avgzsl recorded it."""
    if "selection" in metrics:
        return metrics["selection"]
    epoch = metrics.get("selected_epoch")
    by = selection_metric(metrics.get("protocol", "paper")) if "val_hm" in history else None
    record = {"epoch": epoch, "by": by}
    chosen = history[history["epoch"] == epoch] if epoch is not None else history.iloc[:0]
    if by is not None and len(chosen):
        record.update({k: float(chosen[k].iloc[0]) for k in ("val_hm", "val_hm_calibrated", "val_beta")
                       if k in chosen})
    return record


def curve_panel(run_dir: Path, name: str) -> Panel:
    """The panel of one run folder (history.csv + metrics.json)."""
    history = pd.read_csv(run_dir / "history.csv")
    if "phase" in history:
        history = history[history["phase"].isna()]
    path = run_dir / "metrics.json"
    metrics = json.loads(path.read_text()) if path.is_file() else {}
    selection = _selection(metrics, history)
    metric = selection.get("by") or "val_hm"
    values = 100 * history[metric].to_numpy(float) if metric in history else np.full(len(history), np.nan)
    won = selection.get(metric)
    return Panel(name=name, epochs=history["epoch"].to_numpy(int), values=values,
                 loss=history["loss"].to_numpy(float), metric=metric, row=selection.get("row"),
                 selected_epoch=selection.get("epoch"), selected_value=None if won is None else 100 * won,
                 beta=selection.get("val_beta"),
                 test_beta=metrics.get("calibration", {}).get("beta", {}).get(selection.get("row") or "both"))


def training_curve_panels(runs: Path, experiments: dict) -> list[Panel]:
    """A panel per deep experiment whose first seed has a history.csv, in the config's order."""
    return [curve_panel(first_seed_dir(runs, n, e), n) for n, e in experiments.items()
            if "baseline" not in e and (first_seed_dir(runs, n, e) / "history.csv").is_file()]


def _draw(ax, panel: Panel, ref: Panel | None, reference: str) -> None:
    loss_ax = ax.twinx()
    loss_ax.plot(panel.epochs, panel.loss, color="tab:orange", lw=1)
    # linear, no offset: over a short run's narrow loss range a log axis labels ticks as 1.0065 x 10^1 and
    # an offset ("+1.006e1") lands on the panel title
    loss_ax.ticklabel_format(axis="y", useOffset=False)
    loss_ax.tick_params(axis="y", which="both", labelsize=6, colors="tab:orange")
    if ref is not None and panel.name != reference and ref.metric == panel.metric:
        ax.plot(ref.epochs, ref.values, color="0.7", lw=1, gid="reference")
    ax.plot(panel.epochs, panel.values, color="tab:blue", lw=1.5, gid="selection-metric")
    if panel.selected_epoch is not None:
        ax.axvline(panel.selected_epoch, color="black", ls="--", lw=0.8, gid="selected-epoch")
        if panel.selected_value is not None:
            ax.plot([panel.selected_epoch], [panel.selected_value], "o", color="tab:red", ms=4, gid="selected")
            beta = "" if panel.beta is None or panel.metric == "val_hm" else f" at β = {panel.beta:.2g}"
            tested = "" if panel.test_beta is None else f"\ntest β = {panel.test_beta:.2g}"
            ax.text(0.02, 0.97, f"epoch {panel.selected_epoch}: {panel.selected_value:.1f} %{beta}{tested}",
                    fontsize=6, va="top", transform=ax.transAxes, gid="selected-label")
    row = f" [{panel.row}]" if panel.row else ""
    ax.set_title(f"{panel.name}{row}", fontsize=8, fontweight="bold" if panel.name == reference else "normal")
    ax.set_ylabel(AXIS_LABELS.get(panel.metric, panel.metric), fontsize=7)
    ax.tick_params(labelsize=6)
    ax.set_zorder(loss_ax.get_zorder() + 1)
    ax.patch.set_visible(False)


def training_curves_figure(panels: list[Panel], *, reference: str = "avgzslnet") -> Figure:
    """The figure (not saved): small multiples, titles wrapped to the figure's width by the layout engine."""
    cols = min(4, max(1, len(panels)))
    rows = max(1, -(-len(panels) // cols))
    width = max(6.0, 3.4 * cols)  # room for the title's lines beside a lone panel
    figure = Figure(figsize=(width, 2.6 * rows + 1.0), layout="constrained")
    axes = figure.subplots(rows, cols, squeeze=False)
    ref = next((p for p in panels if p.name == reference), None)
    for ax, panel in zip(axes.flat, panels):
        _draw(ax, panel, ref, reference)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    if not panels:
        axes[0, 0].text(0.5, 0.5, "no deep experiment has a history.csv", ha="center")
    metrics = sorted({METRIC_LABELS.get(p.metric, p.metric) for p in panels}) or ["val HM"]
    title = (f"Blue: the validation number that selects the epoch ({'; '.join(metrics)}), on the row in "
             f"brackets; grey: {reference}'s for reference; orange (right axis): training loss; dashed and red "
             "dot: the selected epoch, its value and β, and the β the test used (metrics.json `selection`, "
             "`calibration`); first seed, stage-1 epochs")
    # wrapped by characters for the figure's width: a long one-line suptitle runs past both edges
    figure.suptitle(textwrap.fill(title, int(13 * width)), fontsize=8)
    figure.supxlabel("epoch", fontsize=8)
    return figure


def plot_training_curves(runs: Path, experiments: dict, out: str, *, reference: str = "avgzslnet") -> list[Panel]:
    """Write the training-curves figure of the deep experiments' first seeds; returns the panels drawn."""
    panels = training_curve_panels(Path(runs), experiments)
    training_curves_figure(panels, reference=reference).savefig(out, dpi=120)
    return panels
