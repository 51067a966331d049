"""A caller's last word on its own request: a check run before it takes a slot and when it wakes.

An area cancelled while its jobs wait for their turn at the limiter must not make the calls they
were waiting for. `Limiter.acquire()` runs the check set here before each reservation and, when it
had to sleep for its slot, on waking, before the slot is confirmed; if the check raises, the lease is
given back and the request never leaves. Never between the confirmation and the request: a round
trip there would make the call leave late, and the next one, on time, reach the upstream too soon.

    with checked_before_each_call(still_wanted):
        await client.fetch(...)      # every acquire() inside runs `still_wanted()` before its grant
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["checked_before_each_call", "run_check_before_call"]

Check = Callable[[], Awaitable[None]]

_CHECK: ContextVar[Check | None] = ContextVar("areafetch_check_before_call", default=None)


@contextmanager
def checked_before_each_call(check: Check) -> Iterator[None]:
    """Run `check()` after every grant in this context (tasks started inside inherit it)."""
    token = _CHECK.set(check)
    try:
        yield
    finally:
        _CHECK.reset(token)


async def run_check_before_call() -> None:
    check = _CHECK.get()
    if check is not None:
        await check()
