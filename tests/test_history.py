"""Counts per minute: counted in memory, added to Redis on flush (kept when Redis fails), read back
over the minutes asked for."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from areafetch import history
from tests.helpers import REDIS_URL


@pytest.fixture(autouse=True)
def nothing_counted_yet() -> None:
    """Other tests of this process (providers) count upstream calls too."""
    history._pending.clear()


NOW = 1_800_000_030.0  # a fixed instant, 30 s into a minute (in January 2027)


async def test_counts_are_added_on_flush_and_read_back_per_minute() -> None:
    prefix = f"history-{uuid.uuid4().hex}"
    redis = aioredis.Redis.from_url(REDIS_URL)
    try:
        for seconds_ago in (0, 1, 61, 61, 3 * 3600):  # now, now, a minute ago (twice), 3 h ago
            history.count("jobs:areas:completed", now_s=NOW - seconds_ago)
        history.count("upstream:overpass", now_s=NOW)
        await history.flush(redis, prefix)
        history.count("jobs:areas:completed", now_s=NOW)  # a second worker, or a later flush
        await history.flush(redis, prefix)

        read = await history.read_history(redis, prefix, minutes=5, now_s=NOW)
        ttl = await redis.ttl(f"{prefix}:areafetch:history:{datetime.fromtimestamp(NOW, UTC):%Y%m%d%H}")
    finally:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()

    assert len(read.minutes) == 5
    assert read.minutes[-1].timestamp() == NOW // 60 * 60
    assert read.series == {"jobs:areas:completed": [0, 0, 0, 2, 3], "upstream:overpass": [0, 0, 0, 0, 1]}
    assert 0 < ttl <= history.KEEP_HOURS * 3600  # the hour's key expires


async def test_counts_are_kept_for_the_next_flush_when_redis_is_down() -> None:
    down = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    history.count("jobs:test-jobs:failed", now_s=NOW)
    with pytest.raises((RedisConnectionError, OSError)):
        await history.flush(down, "x")
    await down.aclose()
    prefix = f"history-{uuid.uuid4().hex}"
    redis = aioredis.Redis.from_url(REDIS_URL)
    try:
        await history.flush(redis, prefix)
        read = await history.read_history(redis, prefix, minutes=1, now_s=NOW)
    finally:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
    assert read.series == {"jobs:test-jobs:failed": [1]}
