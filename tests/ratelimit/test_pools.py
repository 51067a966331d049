"""An Overpass endpoint pool's limiters: every one listed (status, /api/queues), and the call budget
of the source is their sum, so the plan and the estimate count every endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from areafetch.config import Settings
from areafetch.ratelimit.pools import deployment_limiters, source_statuses
from areafetch.redis import create_client
from tests.helpers import area_client

URLS = ("http://127.0.0.1:9/api/interpreter", "http://127.0.0.2:9/api/interpreter")


@pytest.fixture
def pool_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "overpass_urls": URLS,
            "overpass_daily_requests": 10,
            "overpass_rate_per_s": 100.0,
            "overpass_burst": 10,
        }
    )


@pytest.fixture
async def redis(pool_settings: Settings) -> AsyncIterator[Redis]:
    client = create_client(pool_settings.redis_url, socket_timeout_s=5)
    yield client
    await client.aclose()


async def test_every_endpoint_has_a_limiter_and_the_budget_is_their_sum(
    pool_settings: Settings, redis: Redis
) -> None:
    limiters = deployment_limiters(redis, pool_settings)
    assert list(limiters) == ["overpass", "overpass:127.0.0.2:9", "google_places"]
    for _ in range(3):
        async with limiters["overpass:127.0.0.2:9"].acquire():
            pass

    statuses = await source_statuses(limiters, ["overpass"])

    assert statuses["overpass"].requests_left == 10 + 10 - 3
    assert statuses["overpass"].requests_today == 3
    assert not statuses["overpass"].budget_exhausted


async def test_the_queues_api_lists_every_endpoint_s_limiter(pool_settings: Settings) -> None:
    async with area_client(pool_settings) as client:
        limiters = (await client.get("/api/queues")).json()["limiters"]
    assert [limiter["name"] for limiter in limiters] == ["overpass", "overpass:127.0.0.2:9", "google_places"]
