"""The Redis connection factory: options that avoid the socket-timeout trap, TLS, redaction."""

from __future__ import annotations

import redis.asyncio as aioredis

from areafetch.config import MAX_REDIS_BLOCK_S
from areafetch.redaction import redacted_url
from areafetch.redis import connection_options, create_client


def test_options_carry_timeout_above_bullmq_block_and_keepalive() -> None:
    options = connection_options("redis://127.0.0.1:6379/3", socket_timeout_s=30)

    assert options["socket_timeout"] == 30 > MAX_REDIS_BLOCK_S
    assert options["socket_keepalive"] is True
    assert options["health_check_interval"] > 0
    assert (options["host"], options["port"], options["db"]) == ("127.0.0.1", 6379, 3)


def test_rediss_url_turns_on_tls_and_keeps_credentials() -> None:
    options = connection_options("rediss://user:secret@cache.example:6380/1", socket_timeout_s=30)

    assert options["ssl"] is True
    assert "connection_class" not in options
    assert (options["username"], options["password"]) == ("user", "secret")
    # the options are accepted by redis-py as they are (what bullmq does with them)
    aioredis.Redis(**options)


def test_redacted_url_hides_password() -> None:
    assert redacted_url("redis://:hunter2@h:1/0") == "redis://:***@h:1/0"
    assert redacted_url("redis://h:1/0") == "redis://h:1/0"


async def test_client_talks_to_redis() -> None:
    client = create_client("redis://127.0.0.1:6379/0", socket_timeout_s=30)
    try:
        assert await client.ping() is True
        assert client.connection_pool.connection_kwargs["socket_timeout"] == 30
    finally:
        await client.aclose()
