"""Where the seconds of an extraction or a prediction go, stage by stage, for benchmarks: off unless asked.

The extraction and scoring code marks its stages (decode, log-mel, a network, ranking) with `stage(name)`,
or, in decode workers, times them into a plain dict that travels back with the clip (a worker process
cannot reach the parent's recorder) and is handed to `add_stages` on the model's side. Nothing is kept
unless a caller records: `with recording() as times: ...` collects the seconds of every stage run in this
process meanwhile, from any thread, summed per stage name, with the number of calls.

Stages run concurrently (decode threads beside the network), so their seconds add up to more than the
wall-clock time; each is the wall-clock time of its own calls.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Iterator


class StageTimes:
    """Seconds and calls per stage name, summed; safe to add to from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def add(self, name: str, seconds: float) -> None:
        with self._lock:
            self.seconds[name] += seconds
            self.calls[name] += 1


_recorder: StageTimes | None = None  # a module global, not a context variable: pool threads must see it


@contextmanager
def recording() -> Iterator[StageTimes]:
    """Record every stage run in this process until the block ends; recordings do not nest."""
    global _recorder
    if _recorder is not None:
        raise RuntimeError("stage times are already being recorded")
    _recorder = StageTimes()
    try:
        yield _recorder
    finally:
        _recorder = None


@contextmanager
def stage(name: str, into: dict[str, float] | None = None) -> Iterator[None]:
    """Time the block as stage `name`: into the dict `into` when given (a worker's own), else into the
    recording, if one is on."""
    started = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - started
        if into is not None:
            into[name] = into.get(name, 0.0) + elapsed
        elif _recorder is not None:
            _recorder.add(name, elapsed)


def add_stages(times: dict[str, float]) -> None:
    """Stage seconds timed elsewhere (a decode worker's dict), into the recording if one is on."""
    if _recorder is not None:
        for name, seconds in times.items():
            _recorder.add(name, seconds)
