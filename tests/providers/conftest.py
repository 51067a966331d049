"""Fixtures for the provider tests: the fake upstreams, an HTTP client, fast limiters on real Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
import redis
import redis.asyncio as aioredis

from areafetch.ratelimit import Limiter, LimitPolicy
from areafetch.ratelimit._keys import LimiterKeys
from areafetch.redis import create_client
from tests.fakes.fixtures import google_places_fake, helsinki_data, helsinki_pbf, overpass_fake
from tests.helpers import REDIS_URL

__all__ = ["google_places_fake", "helsinki_data", "helsinki_pbf", "overpass_fake"]


@pytest.fixture
async def redis_client() -> AsyncIterator[aioredis.Redis]:
    client = create_client(REDIS_URL, socket_timeout_s=10)
    yield client
    await client.aclose()


@pytest.fixture
def make_limiter(redis_client: aioredis.Redis) -> Iterator[Callable[[LimitPolicy], Limiter]]:
    """Limiters on names no other test uses; their keys are deleted afterwards."""
    names: list[str] = []

    def make(policy: LimitPolicy) -> Limiter:
        name = f"test-providers-{uuid.uuid4().hex}"
        names.append(name)
        return Limiter(redis_client, name, policy)

    yield make
    if names:
        client = redis.Redis.from_url(REDIS_URL)
        try:
            client.delete(*(key for name in names for key in LimiterKeys.for_name(name).all()))
        finally:
            client.close()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client
