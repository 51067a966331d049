"""The CPU process pool: its processes run below the caller's priority."""

from __future__ import annotations

import os

import pytest

from areafetch.cpu import MAX_NICE, CpuPool, niceness


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
