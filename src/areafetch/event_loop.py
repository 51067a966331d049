"""The event loop areafetch's long-running processes run on (`AREAFETCH_EVENT_LOOP`).

uvloop by default where it is installed (a dependency on Linux and macOS; uvicorn picked it for
the web app already): a short job spends much of its time in the loop's own Python, and on uvloop
the worker's CPU per test job is 8 % lower (0.94 -> 0.87 ms, see Performance). `asyncio` is there
for debugging (asyncio's debug mode, tools that only know its loop).
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

__all__ = ["EventLoopChoice", "loop_name", "run", "running_loop_name", "uvloop_installed"]

EventLoopChoice = Literal["auto", "uvloop", "asyncio"]
LoopName = Literal["uvloop", "asyncio"]
T = TypeVar("T")


def uvloop_installed() -> bool:
    return importlib.util.find_spec("uvloop") is not None


def loop_name(choice: EventLoopChoice) -> LoopName:
    """The loop a setting resolves to on this machine."""
    if choice == "auto":
        return "uvloop" if uvloop_installed() else "asyncio"
    return choice


def run(main: Coroutine[Any, Any, T], choice: EventLoopChoice) -> T:
    """`asyncio.run(main)` on the chosen loop."""
    with asyncio.Runner(loop_factory=_loop_factory(loop_name(choice))) as runner:
        return runner.run(main)


def running_loop_name() -> LoopName:
    """`uvloop` or `asyncio`: the loop this coroutine runs on (for the worker's start line)."""
    return "uvloop" if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else "asyncio"


def _loop_factory(name: LoopName) -> Callable[[], asyncio.AbstractEventLoop]:
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop
