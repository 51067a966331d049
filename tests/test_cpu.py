"""The CPU pool: `start` spawns every process and imports the preloaded modules before any job."""

from __future__ import annotations

import sys

import psutil

from areafetch.cpu import CpuPool

# Imported by nothing the pool's processes load on their own.
PRELOADED = "json.tool"


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
