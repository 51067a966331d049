"""Fixtures for the limiter tests: a Redis client, and a unique limiter name whose keys are deleted after."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
import redis.asyncio as aioredis

from areafetch.ratelimit import Limiter, LimitPolicy
from areafetch.redis import create_client
from tests.helpers import REDIS_URL
from tests.ratelimit.keys import delete_limiter_keys


@pytest.fixture
def limiter_name() -> Iterator[str]:
    """A limiter name no other test uses; its keys are deleted afterwards."""
    name = f"test-{uuid.uuid4().hex}"
    yield name
    delete_limiter_keys(name)


@pytest.fixture
async def client() -> AsyncIterator[aioredis.Redis]:
    client = create_client(REDIS_URL, socket_timeout_s=10)
    yield client
    await client.aclose()


@pytest.fixture
def make_limiter(client: aioredis.Redis, limiter_name: str) -> Callable[..., Limiter]:
    """Builds limiters on the test's name (``client=`` for another connection, like another worker)."""

    def make(policy: LimitPolicy, *, on: aioredis.Redis | None = None) -> Limiter:
        return Limiter(on or client, limiter_name, policy)

    return make
