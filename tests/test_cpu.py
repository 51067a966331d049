"""The CPU pool: `start` spawns every process and imports the preloaded modules before any job;
its processes run below the caller's priority and exit when their owner is killed."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

import psutil
import pytest

from areafetch.cpu import MAX_NICE, CpuPool, niceness
from tests.helpers import eventually

# Imported by nothing the pool's processes load on their own.
PRELOADED = "json.tool"

# An owner that starts a pool of 2, writes the pool's pids to a file and waits to be killed.
OWNER = """
import asyncio, pathlib, sys
from areafetch.cpu import CpuPool

async def main():
    pool = CpuPool(2)
    await pool.start()
    pids = " ".join(map(str, pool._executor._processes))
    pathlib.Path(sys.argv[1]).write_text(pids + "\\n")
    await asyncio.Event().wait()

asyncio.run(main())
"""


def _loaded(name: str) -> bool:
    return name in sys.modules


async def test_start_spawns_every_process_and_each_has_imported_the_preloaded_modules() -> None:
    before = {child.pid for child in psutil.Process().children()}
    pool = CpuPool(2, preload=(PRELOADED,))
    try:
        await pool.start()
        spawned = {child.pid for child in psutil.Process().children()} - before
        assert len(spawned) >= 2  # the pool's processes (and possibly multiprocessing's tracker)
        assert all([await pool.run(_loaded, PRELOADED) for _ in range(4)])
    finally:
        pool.close()


async def test_without_preload_a_pool_process_imports_only_what_its_functions_need() -> None:
    pool = CpuPool(1)
    try:
        await pool.start()
        assert not await pool.run(_loaded, PRELOADED)
    finally:
        pool.close()


@pytest.mark.parametrize("nice", [0, 7])
async def test_pool_processes_run_at_the_configured_niceness_above_the_callers(nice: int) -> None:
    pool = CpuPool(1, nice=nice)
    try:
        in_pool = await pool.run(niceness)
    finally:
        pool.close()

    assert in_pool == min(os.nice(0) + nice, MAX_NICE)
    assert niceness() == os.nice(0)  # the caller keeps its own


@pytest.mark.parametrize("nice", [-1, MAX_NICE + 1])
def test_a_niceness_outside_0_to_19_is_refused(nice: int) -> None:
    with pytest.raises(ValueError, match="nice must be 0-19"):
        CpuPool(1, nice=nice)


async def test_pool_processes_exit_when_their_owner_is_killed_with_sigkill(tmp_path: Path) -> None:
    written = tmp_path / "pool-pids"
    owner = await asyncio.create_subprocess_exec(sys.executable, "-c", OWNER, str(written))

    async def pool_pids_written() -> str | None:
        text = written.read_text() if written.exists() else ""
        return text if text.endswith("\n") else None

    try:
        pool_pids = [int(pid) for pid in (await eventually(pool_pids_written, timeout_s=60)).split()]
        assert len(pool_pids) == 2
        assert all(psutil.pid_exists(pid) for pid in pool_pids)
    finally:
        owner.send_signal(signal.SIGKILL)
        await owner.wait()

    async def all_gone() -> bool:
        return not any(_alive(pid) for pid in pool_pids)

    try:
        await eventually(all_gone, timeout_s=10, interval_s=0.1, what="the orphaned pool processes exit")
    finally:
        for pid in pool_pids:
            with contextlib.suppress(psutil.NoSuchProcess):
                psutil.Process(pid).kill()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
