"""Refresh schedules: one BullMQ job scheduler per area that carries `refresh_every`, kept in Redis
(so it survives restarts of every process) and removed with the area."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from areafetch.areas.job_ids import refresh_scheduler_id
from areafetch.areas.schedules import RefreshEvery
from areafetch.constants import AREAS_QUEUE
from areafetch.errors import ServiceUnavailable
from areafetch.jobs import REFRESH_AREA_SPEC, RETENTION_SPEC, AreaRef, RetentionPayload
from areafetch.queue.producer import Queues, default_job_options

__all__ = [
    "RETENTION_SCHEDULER_ID",
    "RefreshSchedule",
    "refresh_schedules",
    "remove_refresh_schedule",
    "upsert_refresh_schedule",
    "upsert_retention_schedule",
]

RETENTION_SCHEDULER_ID = "google-retention"
_RETENTION_CRON = "17 3 * * *"  # daily, 03:17 UTC: off the hour, when every public API is busiest


class RefreshSchedule(BaseModel):
    area_id: uuid.UUID
    every: str = Field(description="`3600s` or a cron expression (UTC)")
    next_at: datetime | None


async def upsert_refresh_schedule(queues: Queues, area_id: uuid.UUID, schedule: RefreshEvery) -> None:
    """Start (or change) the area's schedule: a `refresh` job each time it is due."""
    queue = queues.get(AREAS_QUEUE)
    try:
        await queue.upsertJobScheduler(
            refresh_scheduler_id(area_id),
            schedule.repeat_options(),
            REFRESH_AREA_SPEC.name,
            REFRESH_AREA_SPEC.dump_payload(AreaRef(area_id=area_id)),
            {**default_job_options(queues.settings), "attempts": 3},
        )
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable("redis", f"{queues.redis_label}: {exc}") from exc


async def remove_refresh_schedule(queues: Queues, area_id: uuid.UUID) -> None:
    try:
        await queues.get(AREAS_QUEUE).removeJobScheduler(refresh_scheduler_id(area_id))
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable("redis", f"{queues.redis_label}: {exc}") from exc


async def refresh_schedules(queues: Queues) -> list[RefreshSchedule]:
    """Every area's schedule, the next due first."""
    try:
        found = await queues.get(AREAS_QUEUE).getJobSchedulers(0, -1, True)
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable("redis", f"{queues.redis_label}: {exc}") from exc
    schedules = []
    for scheduler in found or []:
        key = str(scheduler.get("key") or scheduler.get("id") or "")
        if not key.endswith(".refresh"):
            continue
        every = scheduler.get("every")
        next_ms = scheduler.get("next")
        schedules.append(
            RefreshSchedule(
                area_id=uuid.UUID(key.removesuffix(".refresh")),
                every=f"{int(every) // 1000}s" if every else str(scheduler.get("pattern")),
                next_at=datetime.fromtimestamp(int(next_ms) / 1000, UTC) if next_ms else None,
            )
        )
    return schedules


async def upsert_retention_schedule(queues: Queues) -> None:
    """The daily job that deletes Google content past its retention; every worker of the areas queue
    upserts it at start (one scheduler whatever their number)."""
    try:
        await queues.get(AREAS_QUEUE).upsertJobScheduler(
            RETENTION_SCHEDULER_ID,
            {"pattern": _RETENTION_CRON, "tz": "UTC"},
            RETENTION_SPEC.name,
            RETENTION_SPEC.dump_payload(RetentionPayload()),
            {**default_job_options(queues.settings), "attempts": 3},
        )
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable("redis", f"{queues.redis_label}: {exc}") from exc
