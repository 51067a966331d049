"""The one place that builds Redis connections (the story's `src/lib/redis.ts`).

redis-py 8 gives every connection a 5 s socket timeout by default. bullmq blocks on
Redis for up to 10 s (the worker's BZPOPMIN on the queue marker, QueueEvents' XREAD),
so with the default every idle wait ends in a TimeoutError, the worker retries in a
loop, delayed jobs are never picked up and idle event listeners die. Every connection
built here therefore carries a socket timeout above bullmq's longest block (validated
in `Settings`), TCP keepalive, and a periodic health check so a dead peer is still
noticed within that timeout instead of hanging forever.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import SSLConnection, parse_url
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError

__all__ = ["RedisOptions", "connection_options", "create_client"]

RedisOptions = dict[str, Any]

_HEALTH_CHECK_INTERVAL_S = 15


def connection_options(url: str, *, socket_timeout_s: float) -> RedisOptions:
    """Keyword arguments for `redis.asyncio.Redis`, as bullmq's `connection` option takes them.

    bullmq builds one connection per Worker/Queue/QueueEvents from these (a dedicated
    blocking one for the worker), so they are handed over as options, not as a client.
    """
    options: RedisOptions = dict(parse_url(url))
    if options.pop("connection_class", None) is SSLConnection:
        options["ssl"] = True
    options.update(
        socket_timeout=socket_timeout_s,
        socket_connect_timeout=min(socket_timeout_s, 10.0),
        socket_keepalive=True,
        health_check_interval=_HEALTH_CHECK_INTERVAL_S,
    )
    return options


def create_client(
    url: str, *, socket_timeout_s: float, decode_responses: bool = True, retries: int = 12
) -> aioredis.Redis:
    """A pooled asyncio client for our own commands (producers, limiter, health checks, metrics).

    Connection errors are retried with jittered backoff (0.1 s doubling up to 5 s); the
    default 12 retries ride out a Redis restart in a worker. The web app passes fewer so
    a request fails fast (503) instead of hanging while Redis is down.
    """
    return aioredis.Redis(
        **connection_options(url, socket_timeout_s=socket_timeout_s),
        decode_responses=decode_responses,
        retry=Retry(ExponentialWithJitterBackoff(base=0.1, cap=5.0), retries=retries),
        retry_on_error=[BusyLoadingError, ConnectionError, TimeoutError],
    )
