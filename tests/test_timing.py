"""benchmarks/_timing.py: spreads, retries and the verdict that says when a benchmark can't be trusted."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "bench_timing", Path(__file__).resolve().parents[1] / "benchmarks" / "_timing.py")
timing = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = timing  # dataclasses look their module up by name
_spec.loader.exec_module(timing)


@pytest.mark.parametrize(
    "values, trusted",
    [([1.0, 1.05, 1.1], True), ([1.0, 1.5, 2.0], False), ([2.0], False), ([1.0, 1.0], True)],
)
def test_spread_range_decides_trust(values, trusted):
    spread = timing.Spread("x", values)
    assert spread.trusted is trusted
    if len(values) > 1:
        assert spread.relative_range == pytest.approx((max(values) - min(values)) / spread.median)


def test_steady_measures_again_when_wide_and_keeps_the_narrowest(capsys):
    attempts = iter([[1.0, 3.0, 2.0], [1.0, 1.1, 1.05], [9.0, 9.0, 9.0]])
    spread = timing.steady(lambda: next(attempts), "step", retries=2)
    assert spread.values == [1.0, 1.1, 1.05] and spread.attempts == 2 and spread.trusted
    assert "measuring again" in capsys.readouterr().out
    still_wide = iter([[1.0, 3.0], [1.0, 2.0]])
    spread = timing.steady(lambda: next(still_wide), "step", retries=1)
    assert spread.values == [1.0, 2.0] and not spread.trusted


@pytest.mark.parametrize(
    "start, end, cores, busy",
    [(0.5, 2.0, 2, False), (2.5, 2.0, 2, True), (1.0, 3.9, 2, False), (1.0, 4.1, 2, True), (12.0, 0.0, 16, False)],
)
def test_load_average_marks_a_busy_machine(start, end, cores, busy):
    assert (timing.busy_reason(start, end, cores) is not None) is busy


def test_report_warns_and_gives_an_untrusted_verdict(capsys, monkeypatch):
    monkeypatch.setattr(timing.os, "getloadavg", lambda: (0.1, 0.1, 0.1))
    report = timing.TimingReport()
    report.add(timing.Spread("steady thing", [1.0, 1.01, 1.02]))
    assert report.finish()
    assert "VERDICT: trusted" in capsys.readouterr().out
    report.add(timing.Spread("noisy thing", [1.0, 2.0, 1.5]))
    assert not report.finish()
    out = capsys.readouterr().out
    assert "WARNING: noisy thing not trustworthy" in out and "VERDICT: UNTRUSTED" in out and "noisy thing" in out
    monkeypatch.setattr(timing.os, "getloadavg", lambda: (50.0, 50.0, 50.0))
    busy = timing.TimingReport()
    busy.add(timing.Spread("steady thing", [1.0, 1.01]))
    assert not busy.finish()
    assert "every range is narrow, but load average 50.0" in capsys.readouterr().out
