"""The web process keeps idle connections open longer than client pools keep them.

If the server closed first (uvicorn's default is 5 s, the same as httpx's pool expiry), a request
sent on a pooled connection at that moment meets a closing socket and is reset: one request in
10,000 of the overload burst failed that way."""

from __future__ import annotations

import asyncio

import httpx

from areafetch.config import Settings
from tests.helpers import ProcessFactory, settings_env

HTTPX_POOL_EXPIRY_S = httpx.Limits().keepalive_expiry or 0.0


async def _get_healthz(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
    await writer.drain()
    return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)


async def test_idle_connection_outlives_the_client_pool_expiry(
    settings: Settings, processes: ProcessFactory
) -> None:
    assert settings.web_keepalive_s > HTTPX_POOL_EXPIRY_S
    _, base_url = await processes.web(settings_env(settings))
    port = int(base_url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        first = await _get_healthz(reader, writer)
        await reader.readuntil(b'"ok"}')
        # The idle time itself is what is tested: longer than httpx keeps a pooled connection.
        await asyncio.sleep(HTTPX_POOL_EXPIRY_S + 1)
        second = await _get_healthz(reader, writer)
    finally:
        writer.close()
    assert first.startswith(b"HTTP/1.1 200")
    assert second.startswith(b"HTTP/1.1 200")
