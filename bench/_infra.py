"""What the benchmarks share: a migrated database of their own, a Redis db of their own, key clean-up.

AREAFETCH_BENCH_ADMIN_DATABASE_URL   where benchmark databases are created (default: local postgres)
AREAFETCH_BENCH_REDIS_URL            the Redis to run on (default: local, db 0)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterator

import asyncpg
import redis

from areafetch.db import async_url, migrate

ADMIN_DATABASE_URL = os.environ.get(
    "AREAFETCH_BENCH_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("AREAFETCH_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
_CLAIM_KEY = "areafetch-bench:claimed"


def plain_dsn(database_url: str) -> str:
    """`database_url` for asyncpg itself (no SQLAlchemy driver name)."""
    return async_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def bench_database() -> Iterator[str]:
    """A fresh database ``bench_<random>`` with the real migrations; dropped at the end.

    Enter it outside an event loop: the migrations run their own."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    url = async_url(ADMIN_DATABASE_URL).set(drivername="postgresql", database=name)
    database_url = url.render_as_string(hide_password=False)
    try:
        migrate(database_url)  # creates the database too
        yield database_url
    finally:
        asyncio.run(_drop_database(name))


async def _drop_database(name: str) -> None:
    conn = await asyncpg.connect(plain_dsn(ADMIN_DATABASE_URL))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@contextlib.contextmanager
def claimed_redis_db() -> Iterator[str]:
    """The URL of an empty Redis db (1-15) marked as this run's, flushed at the end.

    The limiter's keys are not per queue prefix and tests clear them on db 0; a db of its own keeps
    a benchmark's limiter state and another run's apart."""
    tag = uuid.uuid4().hex
    base = REDIS_URL.rsplit("/", 1)[0] if REDIS_URL.rsplit("/", 1)[-1].isdigit() else REDIS_URL.rstrip("/")
    for db in range(1, 16):
        url = f"{base}/{db}"
        client = redis.Redis.from_url(url)
        try:
            if (
                client.dbsize() == 0
                and client.set(_CLAIM_KEY, tag, nx=True, ex=3600)
                and client.dbsize() == 1
            ):
                try:
                    yield url
                finally:
                    client.flushdb()
                return
        finally:
            client.close()
    raise RuntimeError("no empty Redis db in 1-15 to run in")


def delete_keys(redis_url: str, *patterns: str) -> None:
    """Delete every key matching one of `patterns` (SCAN, in batches)."""
    client = redis.Redis.from_url(redis_url)
    try:
        for pattern in patterns:
            keys = list(client.scan_iter(match=pattern, count=1000))
            for start in range(0, len(keys), 1000):
                client.delete(*keys[start : start + 1000])
    finally:
        client.close()
