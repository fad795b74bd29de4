"""How long a process's threads waited for a core: the run-queue seconds Linux keeps per thread.

On a shared machine CPU seconds / (wall x cores) says what the other processes left over, not how many cores
the program would keep busy alone. Linux counts, per thread, the time it was ready to run but waited for a
core (`/proc/<pid>/task/<tid>/schedstat`, second field, ns). (CPU + waiting) / (wall x cores) is then the
share of the cores the program asked for: what it would use alone, as far as its threads then did not wait
for each other instead (so an upper estimate). Threads are sampled every `interval` seconds; a thread that
ends between two samples loses at most that interval of its count.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path


def _task_stats(pid: int) -> dict[str, int]:
    """Waiting ns per live thread of `pid` (threads that end while read are skipped)."""
    waits = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return waits
    for tid in tids:
        try:
            waits[tid] = int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    return waits


def available() -> bool:
    return bool(_task_stats(os.getpid()))


class RunQueueWait:
    """Seconds the threads of `pid` (default: this process) waited for a core while the block ran."""

    def __init__(self, pid: int | None = None, interval: float = 0.2) -> None:
        self.pid, self.interval = pid or os.getpid(), interval
        self.start: dict[str, int] = {}
        self.last: dict[str, int] = {}
        self._stop = threading.Event()
        self._own: str | None = None  # the sampler's thread, whose waiting is not the program's
        self._thread = threading.Thread(target=self._run, name="runqueue-sampler", daemon=True)

    def _sample(self) -> None:
        self.last.update(_task_stats(self.pid))
        self.last.pop(self._own, None)

    def _run(self) -> None:
        self._own = str(threading.get_native_id())
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> "RunQueueWait":
        self.start = _task_stats(self.pid)
        self.last = dict(self.start)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def seconds(self) -> float:
        return sum(ns - self.start.get(tid, 0) for tid, ns in self.last.items()) / 1e9
