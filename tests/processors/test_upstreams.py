"""The upstream clients of a worker process: warming up the first connection's machinery."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import pytest

from areafetch.config import Settings
from areafetch.processors.upstreams import Upstreams, open_upstreams
from areafetch.redis import create_client

# What a process's first connection would otherwise load while a rate slot is running.
FIRST_CONNECTION_MODULES = ("anyio._core._sockets", "anyio._backends._asyncio", "httpcore._backends.anyio")


@pytest.fixture
def upstream_socket() -> Iterator[socket.socket]:
    """A listening socket standing in for the upstream: it records whether anyone connected."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        yield listener


@pytest.fixture
async def upstreams(upstream_socket: socket.socket) -> AsyncIterator[Upstreams]:
    host, port = upstream_socket.getsockname()[:2]
    settings = Settings(environment="test", overpass_url=f"http://{host}:{port}/api/interpreter")
    redis = create_client(settings.redis_url, socket_timeout_s=settings.redis_socket_timeout_s)
    opened = open_upstreams(settings, redis)
    try:
        yield opened
    finally:
        await opened.aclose()
        await redis.aclose()


async def test_warm_up_contacts_no_upstream(upstreams: Upstreams, upstream_socket: socket.socket) -> None:
    await upstreams.warm_up()

    with pytest.raises(BlockingIOError):
        upstream_socket.accept()  # nobody connected


def test_warm_up_loads_what_the_first_connection_would_load() -> None:
    script = f"""
import asyncio, sys
from areafetch.config import Settings
from areafetch.processors.upstreams import open_upstreams
from areafetch.redis import create_client

modules = {FIRST_CONNECTION_MODULES!r}
print(sorted(name for name in modules if name not in sys.modules))

async def main():
    settings = Settings(environment="test")
    upstreams = open_upstreams(settings, create_client(settings.redis_url, socket_timeout_s=30))
    await upstreams.warm_up()
    await upstreams.aclose()

asyncio.run(main())
print(sorted(name for name in modules if name not in sys.modules))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    before, after = done.stdout.splitlines()
    assert before != "[]"  # importing the module does not load everything ...
    assert after == "[]"  # ... warming up does
