"""A process pool for CPU-heavy job work.

bullmq's Python worker has no sandboxed processors: a processor that blocks the event
loop also stops lock renewal, the job is declared stalled and runs twice. Processors
hand CPU work to this pool and await it, so the loop keeps renewing locks.
"""

from __future__ import annotations

import asyncio
import importlib
import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import ParamSpec, TypeVar

__all__ = ["CpuPool", "burn_cpu"]

P = ParamSpec("P")
R = TypeVar("R")


class CpuPool:
    """Runs picklable functions in worker processes (spawned: no forked event loop state).

    Args:
        max_workers: processes in the pool; 0 = the CPU count.
        preload: modules every pool process imports when it starts (those of the functions it
            will run), so that a job does not pay for the import.
    """

    def __init__(self, max_workers: int = 0, *, preload: Sequence[str] = ()) -> None:
        self.size = max_workers or os.cpu_count() or 1
        self._executor = ProcessPoolExecutor(
            max_workers=self.size,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_import_all,
            initargs=(tuple(preload),),
        )

    async def start(self) -> None:
        """Start every pool process now rather than on first use.

        Spawning a process and importing the geometry libraries takes about a second (more on a
        busy machine); without this, the first CPU-heavy job of each worker (an area's planning)
        waits for it, and with it every upstream call of that area.
        """
        loop = asyncio.get_running_loop()
        # The executor spawns a process per task while none is idle, up to `size`.
        await asyncio.gather(*(loop.run_in_executor(self._executor, _ready) for _ in range(self.size)))

    async def run(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run `fn(*args)` in the pool and await its result without blocking the loop."""
        if kwargs:
            raise TypeError("CpuPool.run takes positional arguments only")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def _import_all(modules: tuple[str, ...]) -> None:
    for name in modules:
        importlib.import_module(name)


def _ready() -> bool:
    return True


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
