"""Cleaning up after a limiter test: its keys, by the limiter's name (default namespace)."""

from __future__ import annotations

import redis

from areafetch.ratelimit._keys import LimiterKeys
from tests.helpers import REDIS_URL


def delete_limiter_keys(name: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.delete(*LimiterKeys.for_name(name).all())
    finally:
        client.close()
