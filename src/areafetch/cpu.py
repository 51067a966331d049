"""A process pool for CPU-heavy job work.

bullmq's Python worker has no sandboxed processors: a processor that blocks the event
loop also stops lock renewal, the job is declared stalled and runs twice. Processors
hand CPU work to this pool and await it, so the loop keeps renewing locks.

The pool's processes run at a lower scheduling priority (a higher niceness) than the worker
itself: on a machine shared with the web app, Redis and PostgreSQL, a large area's planning
then takes the cores only when they would otherwise be idle, and web requests keep their latency.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import ParamSpec, TypeVar

__all__ = ["MAX_NICE", "CpuPool", "burn_cpu", "niceness"]

MAX_NICE = 19

P = ParamSpec("P")
R = TypeVar("R")


class CpuPool:
    """Runs picklable functions in worker processes (spawned: no forked event loop state).

    Args:
        max_workers: Processes in the pool; 0 for one per CPU.
        nice: Niceness the pool's processes add to the worker's own (0-19; the kernel caps the
            sum at 19).
    """

    def __init__(self, max_workers: int = 0, *, nice: int = 0) -> None:
        if not 0 <= nice <= MAX_NICE:
            raise ValueError(f"nice must be 0-{MAX_NICE}, not {nice}")
        self._executor = ProcessPoolExecutor(
            max_workers=max_workers or os.cpu_count() or 1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_lower_priority,
            initargs=(nice,),
        )

    async def run(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run `fn(*args)` in the pool and await its result without blocking the loop."""
        if kwargs:
            raise TypeError("CpuPool.run takes positional arguments only")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def _lower_priority(nice: int) -> None:
    """Pool initializer: raise this process's niceness (never needs privileges)."""
    if nice:
        os.nice(nice)


def niceness() -> int:
    """This process's niceness (picklable: ask a pool process for its own)."""
    return os.nice(0)


def burn_cpu(duration_ms: int) -> int:
    """Busy-compute for `duration_ms` of wall time; returns the iterations done (the test job's CPU work)."""
    deadline = _now_ms() + duration_ms
    iterations = 0
    value = 0
    while _now_ms() < deadline:
        for i in range(10_000):
            value = (value * 31 + i) % 1_000_003
        iterations += 1
    return iterations


def _now_ms() -> float:
    return time.monotonic() * 1000
