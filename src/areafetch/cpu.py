"""A process pool for CPU-heavy job work.

bullmq's Python worker has no sandboxed processors: a processor that blocks the event
loop also stops lock renewal, the job is declared stalled and runs twice. Processors
hand CPU work to this pool and await it, so the loop keeps renewing locks.

The pool's processes run at a lower scheduling priority (a higher niceness) than the worker
itself: on a machine shared with the web app, Redis and PostgreSQL, a large area's planning
then takes the cores only when they would otherwise be idle, and web requests keep their latency.
They also exit by themselves when the worker is gone, even killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import importlib
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import ParamSpec, TypeVar

__all__ = ["MAX_NICE", "CpuPool", "burn_cpu", "niceness"]

MAX_NICE = 19
ORPHAN_CHECK_S = 1.0

P = ParamSpec("P")
R = TypeVar("R")


class CpuPool:
    """Runs picklable functions in worker processes (spawned: no forked event loop state).

    Args:
        max_workers: processes in the pool; 0 = the CPU count.
        preload: modules every pool process imports when it starts (those of the functions it
            will run), so that a job does not pay for the import.
        nice: niceness the pool's processes add to the worker's own (0-19; the kernel caps the
            sum at 19).
    """

    def __init__(self, max_workers: int = 0, *, preload: Sequence[str] = (), nice: int = 0) -> None:
        if not 0 <= nice <= MAX_NICE:
            raise ValueError(f"nice must be 0-{MAX_NICE}, not {nice}")
        self.size = max_workers or os.cpu_count() or 1
        self._executor = ProcessPoolExecutor(
            max_workers=self.size,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_pool_process,
            initargs=(os.getpid(), nice, tuple(preload)),
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


def _start_pool_process(owner_pid: int, nice: int, modules: tuple[str, ...]) -> None:
    """Pool initializer: lower the priority (never needs privileges), watch the owner, import."""
    if nice:
        os.nice(nice)
    threading.Thread(target=_exit_when_orphaned, args=(owner_pid,), name="orphan-watch", daemon=True).start()
    for name in modules:
        importlib.import_module(name)


def _exit_when_orphaned(owner_pid: int) -> None:
    # A worker killed with SIGKILL cannot shut its pool down; the pool's processes would idle on,
    # holding their memory, until the machine restarts. Re-parented means the owner is gone.
    while os.getppid() == owner_pid:
        time.sleep(ORPHAN_CHECK_S)
    os._exit(1)


def _ready() -> bool:
    return True


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
