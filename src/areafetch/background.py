"""Stopping a background task (a lease's renewals, the metrics publisher) for sure.

One `Task.cancel()` is not always enough on Python 3.11: `asyncio.wait_for` drops a cancellation
that arrives as the operation it waits for completes (CPython issue 86296, fixed in 3.12 where
`wait_for` is built on `asyncio.timeout`), and redis-py sends every command under `wait_for` when a
socket timeout is set, as areafetch's clients have. A loop of Redis calls then runs on, and whoever
awaits its end waits forever: a limiter lease kept renewed, a worker that never shuts down.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["stop_task"]

RECANCEL_AFTER_S = 0.05


async def stop_task(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait until it has ended, cancelling it again while it runs on.

    Raises what the task raised, as awaiting it would, except its cancellation; a cancellation of
    the caller while it waits propagates (the task has been cancelled at least once by then)."""
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=RECANCEL_AFTER_S)
    if not task.cancelled():
        task.result()
