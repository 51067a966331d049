"""BullMQ Lua scripts that bullmq's Python port ships but does not wrap."""

from __future__ import annotations

from bullmq.queue_keys import QueueKeys
from bullmq.redis_connection import loadScript
from redis.asyncio import Redis

__all__ = ["move_active_to_wait"]

# Node's worker uses this script; the Python port does not register it.
# KEYS: active, wait, stalled, paused, meta, limiter, prioritized, marker, events;
# ARGV: job id, lock token, job key. Returns >= 0 when moved, < 0 when the lock is not ours.
_MOVE_TO_WAIT_SCRIPT = "moveJobFromActiveToWait-9.lua"
_MOVE_TO_WAIT_KEYS = (
    "active",
    "wait",
    "stalled",
    "paused",
    "meta",
    "limiter",
    "prioritized",
    "marker",
    "events",
)


async def move_active_to_wait(redis: Redis, prefix: str, queue_name: str, job_id: str, token: str) -> bool:
    """Move an active job back to `wait`, releasing its lock; False when the lock is not `token`'s
    (the job finished, or another worker took it over)."""
    script = redis.register_script(loadScript(_MOVE_TO_WAIT_SCRIPT))
    queue_keys = QueueKeys(prefix).getKeys(queue_name)
    code = await script(
        keys=[queue_keys[name] for name in _MOVE_TO_WAIT_KEYS],
        args=[job_id, token, f"{queue_keys['']}{job_id}"],
    )
    return int(code) >= 0
