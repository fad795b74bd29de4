"""The tables step: Tables 1-4 and coverage from the experiments' summaries (the figures are apart, so that a
change to the tables' layout re-runs only the tables)."""

from __future__ import annotations

from avgzsl.reporting.tables import write_all_tables


def tables_step(**kwargs) -> None:
    write_all_tables(**kwargs)
