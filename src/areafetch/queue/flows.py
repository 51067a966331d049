"""An area's BullMQ flow: one finalise job (the parent) over one fetch job per tile (its children).

A child that fails for good does not fail its parent (`ignoreDependencyOnFailure`): the other tiles
go on, BullMQ notes the failure in the parent's `:failed` hash, and finalise runs once every child
has completed or failed, to end the area `completed`, `partial` or `failed`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from bullmq import Queue
from redis.asyncio import Redis
from redis.exceptions import RedisError

from areafetch.areas import fetch_job_id, finalise_job_id, plan_job_id
from areafetch.areas.job_ids import settle_job_id
from areafetch.config import Settings
from areafetch.constants import AREAS_QUEUE
from areafetch.errors import ServiceUnavailable
from areafetch.jobs import FETCH_TILE_SPEC, FINALISE_AREA_SPEC, AreaRef, FetchTilePayload
from areafetch.queue.producer import Queues, default_job_options
from areafetch.tracing import enqueue_span, with_trace

__all__ = [
    "add_area_flow",
    "failed_children",
    "is_cancelled",
    "mark_cancelled",
    "remove_waiting_area_jobs",
    "requeue_area_tiles",
]

_CANCEL_MARK_TTL_S = 7 * 86_400


def _job_key(prefix: str, job_id: str) -> str:
    return f"{prefix}:{AREAS_QUEUE}:{job_id}"


async def add_area_flow(
    flows: Any, redis: Redis, settings: Settings, area_id: uuid.UUID, tiles: Sequence[tuple[str, str]]
) -> None:
    """Add the finalise job of `area_id` with a fetch job per (source, tile id) under it, once:
    a retried plan job finds the flow there already and adds nothing.

    `flows` is a `bullmq.FlowProducer`."""
    parent_id = finalise_job_id(area_id)
    if await redis.exists(_job_key(settings.queue_prefix, parent_id)):
        return
    with enqueue_span(AREAS_QUEUE, FETCH_TILE_SPEC.name, len(tiles) + 1) as carrier:
        await flows.add(_flow(settings, area_id, tiles, carrier))


def _flow(
    settings: Settings, area_id: uuid.UUID, tiles: Sequence[tuple[str, str]], carrier: str | None
) -> dict[str, Any]:
    child_options = with_trace({**default_job_options(settings), "ignoreDependencyOnFailure": True}, carrier)
    children = [
        {
            "name": FETCH_TILE_SPEC.name,
            "queueName": AREAS_QUEUE,
            "data": FETCH_TILE_SPEC.dump_payload(
                FetchTilePayload(area_id=area_id, source=source, tile_id=tile_id)
            ),
            "opts": {**child_options, "jobId": fetch_job_id(area_id, source, tile_id)},
        }
        for source, tile_id in tiles
    ]
    return {
        "name": FINALISE_AREA_SPEC.name,
        "queueName": AREAS_QUEUE,
        "data": FINALISE_AREA_SPEC.dump_payload(AreaRef(area_id=area_id)),
        "opts": with_trace({**default_job_options(settings), "jobId": finalise_job_id(area_id)}, carrier),
        "children": children,
    }


async def failed_children(redis: Redis, settings: Settings, area_id: uuid.UUID) -> dict[str, str]:
    """Fetch job id -> BullMQ's reason, for each child of the area's flow that failed for good."""
    key = _job_key(settings.queue_prefix, finalise_job_id(area_id)) + ":failed"
    raw: dict[bytes | str, bytes | str] = await redis.hgetall(key)
    return {_text(child).rsplit(":", 1)[-1]: _text(reason) for child, reason in raw.items()}


async def remove_waiting_area_jobs(queues: Queues, area_id: uuid.UUID) -> int:
    """Remove the area's plan job and fetch jobs that have not started (a cancel); jobs in flight
    are locked and stay. How many were removed."""
    queue = queues.get(AREAS_QUEUE)
    try:
        pending = await queue.client.smembers(queue.toKey(finalise_job_id(area_id)) + ":dependencies")
        job_ids = [plan_job_id(area_id)] + [_text(key).rsplit(":", 1)[-1] for key in pending]
        removed = 0
        for job_id in job_ids:
            if await queue.getJobState(job_id) in ("waiting", "delayed", "prioritized"):
                removed += int(await queue.remove(job_id) == 1)
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable("redis", f"{queues.redis_label}: {exc}") from exc
    return removed


async def requeue_area_tiles(queues: Queues, area_id: uuid.UUID, tiles: Sequence[tuple[str, str]]) -> None:
    """A retry: replace the area's finished flow (finalise, its children, and a settling finalise of
    the reconciler's) with a new one over `tiles`, (source, fetch job's tile id) each."""
    queue: Queue = queues.get(AREAS_QUEUE)
    try:
        for job_id in (finalise_job_id(area_id), settle_job_id(area_id)):
            await queue.remove(job_id, {"removeChildren": True})
        await add_area_flow(queues.flows(), queue.client, queues.settings, area_id, tiles)
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable("redis", f"{queues.redis_label}: {exc}") from exc


def _cancel_key(prefix: str, area_id: uuid.UUID) -> str:
    return f"{prefix}:areafetch:cancelled:{area_id}"


async def mark_cancelled(queues: Queues, area_id: uuid.UUID) -> None:
    """Tell the area's jobs in flight (the database says it too; this is what they check between
    a limiter grant and the request, where a database round trip would delay the request)."""
    queue = queues.get(AREAS_QUEUE)
    try:
        await queue.client.set(_cancel_key(queues.settings.queue_prefix, area_id), "1", ex=_CANCEL_MARK_TTL_S)
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable("redis", f"{queues.redis_label}: {exc}") from exc


async def is_cancelled(redis: Redis, settings: Settings, area_id: uuid.UUID) -> bool:
    return bool(await redis.exists(_cancel_key(settings.queue_prefix, area_id)))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
