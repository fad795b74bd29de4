"""Repeated timings with their spread, and a warning when the spread says the machine was busy.

Every benchmark in this folder times each quantity several times and prints min / median / max
and the relative range (max - min) / median. On a quiet machine repeats of the same work agree
to a few per cent; other processes competing for the cores show up as a wide range long before
they show up in the median. A measurement whose range exceeds its limit (default 15 %) is
measured again (`retries` times); if it stays wide, a WARNING line says so and the closing
verdict of the run is UNTRUSTED. A machine loaded evenly for the whole run can slow every repeat
alike and keep the range narrow, so the verdict also reads the load average: above the core count
when the benchmark starts (other processes were already running), or above twice the core count at
the end (the benchmark's own threads account for at most one core count), the run is UNTRUSTED too.
"""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

DEFAULT_MAX_RANGE = 0.15  # relative range beyond which a measurement is not trusted


@dataclass
class Spread:
    name: str
    values: list[float]
    unit: str = "s"
    max_range: float = DEFAULT_MAX_RANGE
    attempts: int = 1

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def relative_range(self) -> float:
        if len(self.values) < 2:
            return float("nan")
        return (max(self.values) - min(self.values)) / abs(self.median) if self.median else float("inf")

    @property
    def trusted(self) -> bool:
        # one value has no spread: it cannot be trusted on a shared machine either
        return len(self.values) >= 2 and self.relative_range <= self.max_range

    def line(self, fmt: str = ".3f") -> str:
        v = self.values
        retried = f", {self.attempts} attempts" if self.attempts > 1 else ""
        return (f"{self.name}: median {self.median:{fmt}} {self.unit} (min {min(v):{fmt}}, max {max(v):{fmt}}, "
                f"range {100 * self.relative_range:.1f} % over {len(v)} repeats{retried})")


def machine_load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (5 min {five:.2f}) on {os.cpu_count()} cores"


def busy_reason(start_load: float, end_load: float, cores: int) -> str | None:
    """Why the load averages say other processes competed for the CPU, or None."""
    if start_load > cores:
        return f"load average {start_load:.1f} at start, above the {cores} cores: other processes were running"
    if end_load > 2 * cores:
        return f"load average {end_load:.1f} at the end, above twice the {cores} cores"
    return None


@dataclass
class TimingReport:
    """Collects the spreads of one benchmark run and prints the closing verdict."""

    spreads: list[Spread] = field(default_factory=list)
    start_load: str = field(default_factory=machine_load)
    start_load1: float = field(default_factory=lambda: os.getloadavg()[0])

    def add(self, spread: Spread, fmt: str = ".3f", quiet: bool = False) -> Spread:
        self.spreads.append(spread)
        if not quiet:
            print(f"  {spread.line(fmt)}")
        if not spread.trusted:
            why = ("a single repeat has no spread" if len(spread.values) < 2 else
                   f"range {100 * spread.relative_range:.0f} % > {100 * spread.max_range:.0f} %")
            print(f"  WARNING: {spread.name} not trustworthy ({why}); the machine was probably busy "
                  f"({machine_load()})")
        return spread

    def finish(self) -> bool:
        wide = [s.name for s in self.spreads if not s.trusted]
        print(f"\nmachine: at start {self.start_load}; at end {machine_load()}")
        busy = busy_reason(self.start_load1, os.getloadavg()[0], os.cpu_count() or 1)
        if wide:
            print(f"VERDICT: UNTRUSTED — {len(wide)} of {len(self.spreads)} measurement(s) spread too widely: "
                  f"{', '.join(wide)}{f'; {busy}' if busy else ''}. "
                  "Rerun on a quiet machine before quoting these numbers.")
        elif busy:
            print(f"VERDICT: UNTRUSTED — every range is narrow, but {busy}: the numbers may be uniformly slow. "
                  "Rerun on a quiet machine before quoting them.")
        else:
            print(f"VERDICT: trusted — all {len(self.spreads)} measurement(s) within their range limits.")
        return not wide and not busy


def steady(
    run: Callable[[], list[float]],
    name: str,
    *,
    unit: str = "s",
    max_range: float = DEFAULT_MAX_RANGE,
    retries: int = 1,
) -> Spread:
    """Call `run()` (which returns one value per repeat) until its range is within `max_range`, at most
    1 + `retries` times; returns the attempt with the narrowest range."""
    best: Spread | None = None
    for attempt in range(1, retries + 2):
        spread = Spread(name, list(run()), unit, max_range, attempt)
        if best is None or not (spread.relative_range >= best.relative_range):
            best = spread
        if best.trusted:
            break
        if attempt <= retries:
            print(f"  ({name}: range {100 * spread.relative_range:.0f} % > {100 * max_range:.0f} %, "
                  f"measuring again; {machine_load()})")
    best.attempts = attempt
    return best


def repeat(
    fn: Callable[[], object],
    name: str,
    *,
    repeats: int = 5,
    warmup: int = 1,
    sync: Callable[[], None] = lambda: None,
    max_range: float = DEFAULT_MAX_RANGE,
    retries: int = 1,
) -> Spread:
    """Seconds per call of `fn`, `repeats` times after `warmup` untimed calls (`sync` waits for a device)."""
    for _ in range(warmup):
        fn()
    sync()

    def run() -> list[float]:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - t0)
        return times

    return steady(run, name, max_range=max_range, retries=retries)


def resolve_device(name: str):
    """`--device` through avgzsl's one resolver; a device this machine lacks ends the script with its message."""
    from avgzsl.runtime.device import resolve_device as resolve

    try:
        return resolve(name, option="--device")
    except ValueError as err:
        raise SystemExit(str(err)) from err


def device_sync(device) -> Callable[[], None]:
    import torch

    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def describe_device(device) -> str:
    import torch

    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (torch {torch.__version__}, CUDA {torch.version.cuda})"
    return f"cpu, {torch.get_num_threads()} torch threads (torch {torch.__version__})"
