"""Friedman test, Nemenyi post hoc test and the critical-difference diagram (Demsar, JMLR 2006).

The blocks are classes (one row each, e.g. `avgzsl.evaluation.metrics.per_class_accuracy`), the treatments
are methods (columns). Each row is ranked, rank 1 = best; the Friedman test asks whether the
methods' average ranks differ at all, and the Nemenyi test which pairs do. Two methods differ
significantly when their average ranks differ by more than the critical difference

    CD = q_alpha * sqrt(k (k + 1) / (6 N)),

k methods, N blocks, q_alpha the studentized range quantile (infinite degrees of freedom) divided
by sqrt(2). The paper's Fig. 7 reports CD = 0.3412: that is k = 2 (AVGZSLNet vs CJME) on the N = 33
AudioSetZSL classes, q_0.05 = 1.960 — which is why two methods must be supported, although
`scipy.stats.friedmanchisquare` itself only accepts three or more.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
import scikit_posthocs
from matplotlib.figure import Figure
from matplotlib.transforms import offset_copy
from scipy import stats

log = logging.getLogger("avgzsl.evaluation.significance")


def studentized_q(n_methods: int, alpha: float = 0.05) -> float:
    """Demsar's q_alpha: the studentized range quantile for k groups, infinite df, over sqrt(2)."""
    return float(stats.studentized_range.ppf(1.0 - alpha, n_methods, np.inf) / np.sqrt(2.0))


def critical_difference(n_methods: int, n_blocks: int, alpha: float = 0.05) -> float:
    return studentized_q(n_methods, alpha) * float(np.sqrt(n_methods * (n_methods + 1) / (6.0 * n_blocks)))


def _friedman_chi_square(ranks: np.ndarray) -> tuple[float, float]:
    """Friedman's statistic with scipy's tie correction, from within-block ranks (N, k).

    Used for k = 2, which scipy refuses; for k >= 3 it equals scipy.stats.friedmanchisquare.
    """
    n, k = ranks.shape
    rank_sums = ranks.sum(axis=0)
    statistic = 12.0 / (n * k * (k + 1)) * float((rank_sums**2).sum()) - 3.0 * n * (k + 1)
    ties = 0.0
    for row in ranks:
        _, counts = np.unique(row, return_counts=True)
        ties += float((counts**3 - counts).sum())
    correction = 1.0 - ties / (n * k * (k * k - 1))
    if correction <= 0:  # every block is a complete tie: no evidence of any difference
        return 0.0, 1.0
    statistic /= correction
    return statistic, float(stats.chi2.sf(statistic, k - 1))


def friedman_nemenyi(per_class_scores: pd.DataFrame, alpha: float = 0.05, *, higher_is_better: bool = True) -> dict:
    """Friedman + Nemenyi over blocks (rows) and methods (columns).

    Rows with a NaN (a class without test clips) are dropped and reported in `notes`.
    Returns statistic, p_value, average_ranks (Series, best first), critical_difference,
    pairwise_p_values (Nemenyi, DataFrame), significant (DataFrame of bool), n_blocks, n_methods,
    alpha, q_alpha, dropped_blocks, notes.
    """
    if not isinstance(per_class_scores, pd.DataFrame):
        raise TypeError("per_class_scores must be a DataFrame (rows = classes, columns = methods)")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1); got {alpha}")
    scores = per_class_scores.astype(float)
    if scores.columns.has_duplicates:
        raise ValueError("method (column) names must be unique")
    incomplete = scores.isna().any(axis=1)
    notes = []
    if incomplete.any():
        notes.append(f"dropped {int(incomplete.sum())} block(s) with missing scores: {list(scores.index[incomplete])}")
        log.info(notes[-1])
    scores = scores[~incomplete]
    n_blocks, n_methods = scores.shape
    if n_methods < 2:
        raise ValueError(f"need at least two methods (columns); got {n_methods}")
    if n_blocks < 2:
        raise ValueError(f"need at least two complete blocks (rows); got {n_blocks}")

    oriented = -scores if higher_is_better else scores  # so that rank 1 is always the best
    ranks = oriented.rank(axis=1, method="average")
    average_ranks = ranks.mean(axis=0).sort_values()
    if n_methods >= 3:
        statistic, p_value = stats.friedmanchisquare(*(scores[c].to_numpy() for c in scores.columns))
        statistic, p_value = float(statistic), float(p_value)
    else:
        statistic, p_value = _friedman_chi_square(ranks.to_numpy())
    # Nemenyi depends on rank differences only, so the direction of "better" does not matter here
    pairwise = scikit_posthocs.posthoc_nemenyi_friedman(scores.reset_index(drop=True))
    cd = critical_difference(n_methods, n_blocks, alpha)
    return {
        "statistic": statistic,
        "p_value": p_value,
        "average_ranks": average_ranks,
        "critical_difference": cd,
        "pairwise_p_values": pairwise,
        "significant": pairwise < alpha,
        "n_blocks": n_blocks,
        "n_methods": n_methods,
        "alpha": alpha,
        "q_alpha": studentized_q(n_methods, alpha),
        "dropped_blocks": list(per_class_scores.index[incomplete]),
        "notes": notes,
    }


def plot_critical_difference(result: dict, path: str | os.PathLike, *, title: str | None = None) -> Path:
    """Draw the CD diagram of a `friedman_nemenyi` result: average ranks on an axis, methods not
    significantly different joined by a bar, the CD as a scale bar from rank 1. Returns the written path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n_methods = result["n_methods"]
    cd = result["critical_difference"]
    # a Figure without pyplot: no global backend or figure registry is touched by library code
    # taller by the title's lines, so that a long caption leaves the ranks their room
    extra_lines = (title or "").count("\n")
    figure = Figure(figsize=(8.0, 1.2 + 0.3 * n_methods + 0.18 * extra_lines), layout="constrained")
    axes = figure.add_subplot()
    scikit_posthocs.critical_difference_diagram(
        result["average_ranks"],
        result["pairwise_p_values"],
        cd=None,  # drawn below: the library puts its CD bar half a rank unit above the axis, over the tick labels
        alpha=result["alpha"],
        ax=axes,
        label_fmt_left="{label} ({rank:.3g})",
        label_fmt_right="({rank:.3g}) {label}",
        crossbar_props={"gid": "crossbar"},
    )
    # the library draws each bar through its methods in a set's order, which follows the process's string
    # hash seed: the same bar, drawn back and forth, antialiases differently from run to run
    for line in axes.lines:
        if line.get_gid() == "crossbar":
            x, y = (np.asarray(v) for v in line.get_data())
            order = np.argsort(x, kind="stable")
            line.set_data(x[order], y[order])
    # the whole rank range 1..k, as in Demsar's diagrams, so distances read against the CD bar
    axes.set_xlim(0.9, n_methods + 0.1)
    # the CD scale bar a fixed distance in points above the rank axis (whose tick labels sit just above it),
    # starting at rank 1 as in Demsar's Fig. 1, whatever the figure's height or the number of methods
    above_ticks = offset_copy(axes.transData, fig=figure, y=30, units="points")
    axes.plot([1.0, 1.0 + cd], [0.0, 0.0], color="black", lw=1.5, transform=above_ticks, clip_on=False)
    for x in (1.0, 1.0 + cd):
        axes.plot([x, x], [0.0, 0.0], marker="|", markersize=6, color="black", transform=above_ticks, clip_on=False)
    label_at = offset_copy(axes.transData, fig=figure, y=34, units="points")
    axes.text(1.0 + cd / 2, 0.0, f"CD = {cd:.3g}", ha="center", va="bottom", fontsize=9, transform=label_at,
              clip_on=False)
    heading = title or (
        f"Friedman p = {result['p_value']:.3g}; Nemenyi CD = {cd:.4f} "
        f"(alpha = {result['alpha']}, N = {result['n_blocks']})"
    )
    axes.set_title(heading, fontsize=9, pad=52)  # clears the CD label above
    figure.savefig(path, dpi=150, bbox_inches="tight")  # long method names sit outside the axes
    return path
