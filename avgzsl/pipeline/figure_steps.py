"""The figures step: training curves, t-SNE and the critical-difference diagram."""

from __future__ import annotations

from avgzsl.reporting.figures import make_figures


def figures_step(**kwargs) -> None:
    make_figures(**kwargs)
