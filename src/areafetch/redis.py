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

import hashlib
from typing import TYPE_CHECKING, Any, cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterPipeline, RedisCluster
from redis.asyncio.connection import SSLConnection, parse_url
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError

if TYPE_CHECKING:
    from areafetch.config import Settings

__all__ = [
    "RedisOptions",
    "bullmq_connection",
    "client_for",
    "connection_options",
    "create_client",
    "socket_timeout_of",
]

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
    url: str,
    *,
    socket_timeout_s: float,
    decode_responses: bool = True,
    retries: int = 12,
    cluster: bool = False,
) -> aioredis.Redis:
    """A pooled asyncio client for our own commands (producers, limiter, health checks, metrics).

    Connection errors are retried with jittered backoff (0.1 s doubling up to 5 s); the
    default 12 retries ride out a Redis restart in a worker. The web app passes fewer so
    a request fails fast (503) instead of hanging while Redis is down.

    With ``cluster``, redis-py's cluster client, started from the node the URL names: it finds the
    others, and follows MOVED and ASK replies and failovers itself. It speaks every command
    areafetch sends with the same signature, so it is typed as the one client both are used as.
    """
    options = connection_options(url, socket_timeout_s=socket_timeout_s)
    retry = Retry(ExponentialWithJitterBackoff(base=0.1, cap=5.0), retries=retries)
    errors: list[type[Exception]] = [BusyLoadingError, ConnectionError, TimeoutError]
    if cluster:
        options.pop("db", None)  # a cluster has database 0 only
        client = _ScriptingCluster(
            **options, decode_responses=decode_responses, retry=retry, retry_on_error=errors
        )
        return cast(aioredis.Redis, client)
    return aioredis.Redis(**options, decode_responses=decode_responses, retry=retry, retry_on_error=errors)


class _ScriptingCluster(RedisCluster):
    """redis-py's cluster client, whose pipelines also run Lua scripts.

    bullmq adds a flow (a parent with its children) as one MULTI of its Lua scripts, but redis-py
    refuses EVALSHA in a cluster pipeline. Here each pipelined script goes as EVAL of its source:
    atomic in the MULTI as before (a hash-tagged prefix keeps every key in one slot), and never
    NOSCRIPT on a node that took over a slot without the script cache of the one before it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.script_sources: dict[str, bytes | str] = {}

    def register_script(self, script: Any) -> Any:
        encoded = script.encode() if isinstance(script, str) else script
        self.script_sources[hashlib.sha1(encoded).hexdigest()] = script
        return super().register_script(script)

    def pipeline(self, transaction: Any | None = None, shard_hint: Any | None = None) -> ClusterPipeline:
        if shard_hint:
            return super().pipeline(transaction, shard_hint)  # refused by redis-py, as it should be
        return _ScriptingPipeline(self, transaction)  # type: ignore[abstract]  # as redis-py builds it


class _ScriptingPipeline(ClusterPipeline):
    async def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> Any:
        # A coroutine that queues the command: awaiting the pipeline itself would start it afresh.
        client = cast(_ScriptingCluster, self.cluster_client)
        return self.execute_command("EVAL", client.script_sources[sha], numkeys, *keys_and_args)


def client_for(settings: Settings, *, retries: int = 12) -> aioredis.Redis:
    """`create_client` for a deployment's Redis (a cluster when `AREAFETCH_REDIS_CLUSTER` is set)."""
    return create_client(
        settings.redis_url,
        socket_timeout_s=settings.redis_socket_timeout_s,
        retries=retries,
        cluster=settings.redis_cluster,
    )


def bullmq_connection(settings: Settings) -> RedisOptions | aioredis.Redis:
    """bullmq's `connection` option: the options it builds its own connections from, or, on a
    cluster (which bullmq cannot build from options), a cluster client of its own."""
    if settings.redis_cluster:
        return client_for(settings)
    return connection_options(settings.redis_url, socket_timeout_s=settings.redis_socket_timeout_s)


def socket_timeout_of(client: aioredis.Redis) -> float | None:
    """The socket timeout a client's connections were given."""
    if isinstance(client, RedisCluster):
        kwargs: dict[str, Any] = client.get_connection_kwargs()
    else:
        kwargs = client.connection_pool.connection_kwargs
    timeout = kwargs.get("socket_timeout")
    return float(timeout) if timeout else None
