"""Work ahead of the model: `map(fn, items)` in order, computed by a pool of threads or processes; progress lines.

Threads suit a CPU job (the model is the bottleneck and decord and numpy's FFT release the GIL
for most of a decode). A GPU job needs several decodes per model call, and the Python parts of
a decode (probing, timestamps, resampling set-up) hold the GIL, so there the decoders run in
worker processes. They are started with `spawn`, not `fork`: the parent has torch's thread
pools (and perhaps a CUDA context) that a forked child must not inherit. Results come back in
the order of `items` whatever the timing, so the output of a job does not depend on the pool.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections import deque
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, Callable, Iterable, Iterator, Sequence

log = logging.getLogger("avgzsl.extract")


def prefetched(
    fn: Callable[[Any], Any], items: Sequence[Any], workers: int, lookahead: int, *, processes: bool = False
) -> Iterator[Any]:
    """`map(fn, items)` in order, computed up to `lookahead` items ahead by `workers` threads or processes.

    With processes, `fn` and the items must pickle (a module-level function or a dataclass instance with
    `__call__`, not a lambda). `workers <= 0` computes inline, with no overlap.
    """
    if workers <= 0:
        yield from map(fn, items)
        return
    pool: Executor
    if processes:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    else:
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode")
    pending: deque[Future] = deque()
    source: Iterable[Any] = iter(items)
    try:
        for item in source:
            pending.append(pool.submit(fn, item))
            if len(pending) >= max(lookahead, workers):  # fewer would leave workers idle
                break
        while pending:
            done = pending.popleft()
            for item in source:
                pending.append(pool.submit(fn, item))
                break
            yield done.result()
    finally:
        # a failed job must not keep decoding the rest of the shard in the background
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class ProgressLog:
    """One log line every `interval` seconds while a job runs: clips done, clips/s, time left.

    A long extraction job otherwise stays silent in its rule log for hours; the lines say whether it
    is moving and when it will end. `interval <= 0` turns the lines off (the final one is still written).
    """

    def __init__(
        self,
        total: int,
        what: str,
        *,
        interval: float = 30.0,
        emit: Callable[[str], None] = log.info,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.what, self.interval, self.emit, self.clock = total, what, interval, emit, clock
        self.done = 0
        self.started = self.last = clock()

    def line(self) -> str:
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = self.done / elapsed
        eta = _duration((self.total - self.done) / rate) if rate > 0 else "unknown"
        return (f"{self.what}: {self.done}/{self.total} clips, {rate:.2f} clips/s, "
                f"elapsed {_duration(elapsed)}, ETA {eta}")

    def update(self, n: int = 1) -> None:
        self.done += n
        now = self.clock()
        if self.interval > 0 and now - self.last >= self.interval:
            self.last = now
            self.emit(self.line())

    def finish(self) -> None:
        self.emit(self.line())
