"""Engines for PostgreSQL from the operator's plain `postgresql://` URL."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

from areafetch.errors import ServiceUnavailable

__all__ = [
    "PING_AFTER_IDLE_S",
    "async_url",
    "connection",
    "create_engine",
    "driver_errors",
    "open_driver_pool",
    "transaction",
]

PING_AFTER_IDLE_S: Final = 1.0
"""A pooled connection idle for longer than this is pinged before it is handed out."""

# libpq's sslmode, as asyncpg's `ssl` argument understands it.
_SSLMODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}


def async_url(database_url: str) -> URL:
    """The SQLAlchemy URL for asyncpg; the driver is our business, not the operator's.

    `sslmode=...` (libpq's spelling) becomes asyncpg's `ssl=...`.
    """
    parts = urlsplit(database_url)
    query = []
    for key, value in parse_qsl(parts.query):
        if key == "sslmode":
            if value not in _SSLMODES:
                raise ValueError(f"unknown sslmode {value!r}")
            key = "ssl"
        query.append((key, value))
    plain = urlunsplit(("postgresql+asyncpg", parts.netloc, parts.path, urlencode(query), ""))
    return make_url(plain)


def create_engine(
    database_url: str, *, pool_size: int = 5, ping_after_idle_s: float = PING_AFTER_IDLE_S
) -> AsyncEngine:
    """An asyncpg engine whose pool checks connections that sat idle before use (survives a PostgreSQL
    restart): see `_ping_idle_connections`."""
    engine = create_async_engine(
        async_url(database_url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=1800,
    )
    _ping_idle_connections(engine.sync_engine, ping_after_idle_s)
    return engine


async def open_driver_pool(database_url: str, *, max_size: int) -> asyncpg.Pool:
    """asyncpg's own pool, for a job that is one statement (the test job's row): checking a connection
    out of SQLAlchemy's pool and back in cost a short job more CPU than the statement itself.

    It connects on first use, not here, so a worker starts while PostgreSQL is down. A connection
    idle for `PING_AFTER_IDLE_S` is closed rather than pinged: after a PostgreSQL restart the next
    statement connects anew, as the engine's idle ping does it. asyncpg reads the operator's URL
    itself, ``sslmode`` included."""
    pool: asyncpg.Pool = await asyncpg.create_pool(
        database_url,
        min_size=0,
        max_size=max_size,
        max_inactive_connection_lifetime=PING_AFTER_IDLE_S,
    )
    return pool


def _ping_idle_connections(engine: Engine, after_idle_s: float) -> None:
    """SQLAlchemy's `pool_pre_ping`, but only for connections idle longer than ``after_idle_s``.

    The asyncpg dialect pings with three round trips (BEGIN, an empty query, ROLLBACK); on every
    checkout that was the most a job spent on PostgreSQL. A connection back in the pool a moment
    ago is alive; one that sat idle (a PostgreSQL restart, an idle timeout) is pinged, and a dead
    one raises `DisconnectionError`, on which the pool drops it and connects anew (SQLAlchemy's
    pessimistic disconnect handling, as `pool_pre_ping` does it)."""

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
        checked_in_at = record.info.get("checked_in_at")  # None: connected just now
        if checked_in_at is None or time.monotonic() - checked_in_at <= after_idle_s:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            if engine.dialect.is_disconnect(exc, dbapi_connection, None):
                raise DisconnectionError(f"idle connection is gone: {exc}") from exc
            raise


# What PostgreSQL being unreachable or lost looks like through SQLAlchemy and asyncpg.
_UNREACHABLE: Final = (OperationalError, InterfaceError, OSError, TimeoutError)


def _unavailable(exc: BaseException) -> ServiceUnavailable:
    return ServiceUnavailable("postgresql", f"{type(exc).__name__}: {exc}"[:300])


# The same, straight from asyncpg: refused or lost connections, a server shutting down or starting.
_DRIVER_UNREACHABLE: Final = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
)


class _DriverErrors:
    """``with driver_errors:`` around driver-level statements: PostgreSQL unreachable or lost becomes
    `ServiceUnavailable`. A plain class, reused: a generator-based context manager cost a one-statement
    job a tenth of its statement.

    Raises:
        ServiceUnavailable: the connection could not be made or was lost.
    """

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, traceback: object) -> None:
        if isinstance(exc, _DRIVER_UNREACHABLE):
            raise _unavailable(exc) from exc


driver_errors: Final = _DriverErrors()


@asynccontextmanager
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection (autobegin, rolled back at the end) on which PostgreSQL being unreachable or
    lost becomes `ServiceUnavailable` (503 on the web), never a library error.

    Raises:
        ServiceUnavailable: the connection could not be made or was lost.
    """
    try:
        async with engine.connect() as conn:
            yield conn
    except _UNREACHABLE as exc:
        raise _unavailable(exc) from exc


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """Like `connection`, in one transaction committed at the end.

    Raises:
        ServiceUnavailable: the connection could not be made or was lost (nothing is committed).
    """
    try:
        async with engine.begin() as conn:
            yield conn
    except _UNREACHABLE as exc:
        raise _unavailable(exc) from exc


async def driver_connection(conn: AsyncConnection) -> asyncpg.Connection:
    """The asyncpg connection under `conn` (same transaction), for COPY and hot statements."""
    raw = await conn.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    return driver
