"""The engine's pool pings a connection before use only when it sat idle: a PostgreSQL restart (here:
the server ending our backend) costs no failed query once the connection has been idle a moment."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from areafetch.db import create_engine
from tests.helpers import dsn


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(text("SELECT pg_backend_pid()")) or 0)


async def _terminate(database_url: str, pid: int) -> None:
    admin = await asyncpg.connect(dsn(database_url))
    try:
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    await asyncio.sleep(0.1)  # the backend is gone


async def test_a_connection_idle_past_the_threshold_is_pinged_and_replaced_when_dead(
    database_url: str,
) -> None:
    engine = create_engine(database_url, pool_size=1, ping_after_idle_s=0.2)
    try:
        dead = await _backend_pid(engine)
        await _terminate(database_url, dead)
        await asyncio.sleep(0.3)
        assert await _backend_pid(engine) not in {0, dead}  # no error: the pool connected anew
    finally:
        await engine.dispose()


async def test_a_connection_back_in_the_pool_a_moment_ago_is_not_pinged(database_url: str) -> None:
    engine = create_engine(database_url, pool_size=1, ping_after_idle_s=60)
    try:
        dead = await _backend_pid(engine)
        await _terminate(database_url, dead)
        with pytest.raises(DBAPIError) as caught:  # the price of skipping the ping: one failed query
            await _backend_pid(engine)
        assert caught.value.connection_invalidated
        assert await _backend_pid(engine) not in {0, dead}  # and the pool recovers at once
    finally:
        await engine.dispose()
