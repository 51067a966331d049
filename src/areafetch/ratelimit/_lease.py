"""Keeps an in-flight lease alive while its call runs, without a round trip for short calls."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from areafetch.background import stop_task
from areafetch.errors import ServiceUnavailable

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Renews one lease every ``interval_s`` until stopped.

    Nothing happens for a call shorter than one interval (a timer, no task, no round trip).
    A lease found gone is not recreated (its slot may be someone else's by then); the keeper
    logs it, records it in `lost` and stops.
    """

    __slots__ = ("_description", "_handle", "_interval_s", "_renew", "_task", "lost", "renewals")

    def __init__(self, renew: Callable[[], Awaitable[bool]], *, interval_s: float, description: str) -> None:
        self._renew = renew
        self._interval_s = interval_s
        self._description = description
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self.lost = False
        self.renewals = 0

    def start(self) -> None:
        self._handle = asyncio.get_running_loop().call_later(self._interval_s, self._spawn)

    async def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        task, self._task = self._task, None
        if task is not None and not task.done():
            await stop_task(task)

    def _spawn(self) -> None:
        self._handle = None
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"renew {self._description}")

    async def _run(self) -> None:
        while True:
            try:
                renewed = await self._renew()
            except ServiceUnavailable as exc:
                # Keep trying: the lease may outlive a short outage.
                log.warning("lease renewal failed: %s: %s", self._description, exc.detail)
            else:
                if not renewed:
                    self.lost = True
                    log.warning("lease lost while its call was running: %s", self._description)
                    return
                self.renewals += 1
            await asyncio.sleep(self._interval_s)
