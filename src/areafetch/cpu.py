"""A process pool for CPU-heavy job work.

bullmq's Python worker has no sandboxed processors: a processor that blocks the event
loop also stops lock renewal, the job is declared stalled and runs twice. Processors
hand CPU work to this pool and await it, so the loop keeps renewing locks.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import ParamSpec, TypeVar

__all__ = ["CpuPool", "burn_cpu"]

P = ParamSpec("P")
R = TypeVar("R")


class CpuPool:
    """Runs picklable functions in worker processes (spawned: no forked event loop state)."""

    def __init__(self, max_workers: int = 0) -> None:
        self._executor = ProcessPoolExecutor(
            max_workers=max_workers or os.cpu_count() or 1,
            mp_context=multiprocessing.get_context("spawn"),
        )

    async def run(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run `fn(*args)` in the pool and await its result without blocking the loop."""
        if kwargs:
            raise TypeError("CpuPool.run takes positional arguments only")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


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
