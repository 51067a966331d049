"""Engines for PostgreSQL from the operator's plain `postgresql://` URL."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

__all__ = ["async_url", "create_engine", "redacted"]

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


def create_engine(database_url: str, *, pool_size: int = 5) -> AsyncEngine:
    """An asyncpg engine whose pool checks connections before use (survives a PostgreSQL restart)."""
    return create_async_engine(
        async_url(database_url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


def redacted(database_url: str) -> str:
    """The URL with its password hidden, for logs and errors."""
    return make_url(database_url).render_as_string(hide_password=True)
