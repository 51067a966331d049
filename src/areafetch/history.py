"""Counts per minute that outlive every process: jobs completed and failed per queue, upstream calls
per source, for the console's charts.

A worker counts in memory (`count`) and adds what it counted to Redis with its metrics snapshot
(`flush`, every 5 s and at shutdown): one hash per UTC hour, `<prefix>:areafetch:history:<YYYYMMDDHH>`,
fields `<series>@<minute>` (minute = epoch seconds // 60), kept `KEEP_HOURS`. Each write touches one
key, so the history is slot-safe on a Redis Cluster. The web app reads the hours a chart spans.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Final

import redis.asyncio as aioredis
from pydantic import BaseModel, Field

__all__ = ["KEEP_HOURS", "History", "count", "flush", "jobs_series", "read_history", "upstream_series"]

KEEP_HOURS: Final = 48
_pending: Counter[tuple[str, int]] = Counter()


def jobs_series(queue: str, outcome: str) -> str:
    return f"jobs:{queue}:{outcome}"


def upstream_series(source: str) -> str:
    return f"upstream:{source}"


def count(series: str, now_s: float | None = None) -> None:
    """One more event of `series` in the current minute (kept in memory until `flush`)."""
    minute = int((time.time() if now_s is None else now_s) // 60)
    _pending[(series, minute)] += 1


def _key(prefix: str, minute: int) -> str:
    return f"{prefix}:areafetch:history:{datetime.fromtimestamp(minute * 60, UTC):%Y%m%d%H}"


async def flush(redis: aioredis.Redis, prefix: str) -> None:
    """Add what was counted since the last flush to Redis; kept for the next flush if Redis fails."""
    if not _pending:
        return
    taken = dict(_pending)
    _pending.clear()
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for (series, minute), value in taken.items():
                key = _key(prefix, minute)
                pipe.hincrby(key, f"{series}@{minute}", value)
                pipe.expire(key, KEEP_HOURS * 3600)
            await pipe.execute()
    except BaseException:
        _pending.update(taken)
        raise


class History(BaseModel):
    """Counts per minute, oldest first, for each series over the same minutes."""

    minutes: list[datetime] = Field(description="the start of each minute (UTC)")
    series: dict[str, list[int]] = Field(
        description="`jobs:<queue>:completed|failed` and `upstream:<source>` -> a count per minute"
    )


async def read_history(
    redis: aioredis.Redis, prefix: str, *, minutes: int, now_s: float | None = None
) -> History:
    """The last `minutes` minutes (the current one included) of every series seen in them."""
    last = int((datetime.now(UTC).timestamp() if now_s is None else now_s) // 60)
    span = range(last - minutes + 1, last + 1)
    keys = list(dict.fromkeys(_key(prefix, minute) for minute in span))
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hgetall(key)
        hashes = await pipe.execute()
    series: dict[str, list[int]] = {}
    first = span[0]
    for fields in hashes:
        for field, value in _decoded(fields.items()):
            name, _, minute_text = field.rpartition("@")
            if not minute_text.isdigit() or not first <= int(minute_text) <= last:
                continue
            series.setdefault(name, [0] * minutes)[int(minute_text) - first] += int(value)
    return History(
        minutes=[datetime.fromtimestamp(minute * 60, UTC) for minute in span],
        series=dict(sorted(series.items())),
    )


def _decoded(items: Iterable[tuple[bytes | str, bytes | str]]) -> Iterable[tuple[str, str]]:
    for field, value in items:
        yield (
            field.decode() if isinstance(field, bytes) else field,
            value.decode() if isinstance(value, bytes) else value,
        )
