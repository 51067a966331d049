"""`stop_task`: a background task ends even when it swallows a cancellation, as Python 3.11's
`asyncio.wait_for` does under redis-py's command writes (CPython issue 86296)."""

from __future__ import annotations

import asyncio

import pytest

from areafetch.background import stop_task


async def test_a_task_that_swallows_its_first_cancellation_is_stopped() -> None:
    cancellations = 0

    async def stubborn() -> None:
        nonlocal cancellations
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                cancellations += 1
                if cancellations > 1:
                    raise

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await stop_task(task)
    assert task.cancelled()
    assert cancellations == 2


async def test_what_the_task_raised_is_raised() -> None:
    async def failing() -> None:
        raise ValueError("boom")

    task = asyncio.create_task(failing())
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="boom"):
        await stop_task(task)


async def test_a_cancelled_caller_stops_waiting() -> None:
    deaf_until = asyncio.Event()

    async def deaf() -> None:
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if deaf_until.is_set():
                    raise

    task = asyncio.create_task(deaf())
    stopper = asyncio.create_task(stop_task(task))
    await asyncio.sleep(0.2)
    assert not stopper.done()
    stopper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopper
    deaf_until.set()
    await stop_task(task)
    assert task.cancelled()
