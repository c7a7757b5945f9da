"""Where a query's time goes: named stages timed with a monotonic clock.

The query engine marks its stages (parse, tower, filters, keyword half, vector search, re-rank,
record reads); the web layer adds serialisation. A caller that wants the figures opens
:func:`collect_stages` around the work; the server logs them at debug level, and
``benchmarks.query_latency`` prints their percentiles. Without a collector the marks cost two
clock reads each and are dropped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

logger = logging.getLogger("pixsift.search.query.timing")

#: The stages, in the order a query passes them (names used in logs and benchmark tables).
STAGES = (
    "parse",
    "filters",
    "tower",
    "keyword",
    "plan",
    "vector_search",
    "rerank",
    "records",
    "serialise",
)


class StageTimes:
    """Milliseconds per stage of one request (a stage entered twice adds up)."""

    def __init__(self, cpu: bool = False) -> None:
        self.ms: dict[str, float] = {}
        #: With ``cpu``, the same stages in this thread's CPU time (benchmarks on a shared
        #: machine: wall time includes waiting for a core; a one-thread tower runs here). Off by
        #: default: the CPU clock is a system call, ~1 ms each on a loaded virtual machine.
        self.cpu_ms: dict[str, float] | None = {} if cpu else None

    def add(self, name: str, milliseconds: float, cpu_milliseconds: float = 0.0) -> None:
        self.ms[name] = self.ms.get(name, 0.0) + milliseconds
        if self.cpu_ms is not None:
            self.cpu_ms[name] = self.cpu_ms.get(name, 0.0) + cpu_milliseconds

    def summary(self) -> str:
        """``parse=0.1 tower=14.2 ...`` in stage order, for a log line."""
        ordered = [name for name in STAGES if name in self.ms]
        ordered += sorted(set(self.ms) - set(STAGES))
        return " ".join(f"{name}={self.ms[name]:.2f}" for name in ordered)


_CURRENT: ContextVar[StageTimes | None] = ContextVar("pixsift_stage_times", default=None)


@contextmanager
def collect_stages(cpu: bool = False) -> Iterator[StageTimes]:
    """Collect the stages timed inside the block (nested blocks share the outer collector);
    ``cpu`` adds each stage's thread CPU time."""
    outer = _CURRENT.get()
    if outer is not None:
        yield outer
        return
    times = StageTimes(cpu)
    token = _CURRENT.set(times)
    try:
        yield times
    finally:
        _CURRENT.reset(token)


def collecting() -> bool:
    """Whether an outer caller already collects this request's stages."""
    return _CURRENT.get() is not None


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Time the block as stage ``name`` of the current request, if anyone collects."""
    times = _CURRENT.get()
    if times is None:
        yield
        return
    cpu = times.cpu_ms is not None
    started, started_cpu = time.perf_counter(), time.thread_time() if cpu else 0.0
    try:
        yield
    finally:
        cpu_ms = (time.thread_time() - started_cpu) * 1000 if cpu else 0.0
        times.add(name, (time.perf_counter() - started) * 1000, cpu_ms)
