"""Queues: counts per state, recent jobs, rate limiters and connected workers, for the dashboard;
search, bulk retry and clean of failed jobs, pause and resume, and counts per minute for its charts."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from areafetch.constants import ALL_QUEUES
from areafetch.errors import ServiceUnavailable
from areafetch.history import History, read_history
from areafetch.queue import JobState
from areafetch.queue.admin import (
    JobPage,
    QueueOverview,
    WorkerInfo,
    clean_failed,
    connected_workers,
    queue_overview,
    retry_failed,
    search_jobs,
    set_paused,
)
from areafetch.queue.producer import JOB_STATES
from areafetch.ratelimit import LimiterStatus
from areafetch.ratelimit.pools import deployment_limiters
from areafetch.web.deps import QueuesDep, ReadAccessDep, RedisDep, SettingsDep, WriteAccessDep

router = APIRouter(prefix="/api/queues", tags=["queues"])


class QueuesPublic(BaseModel):
    """Everything the `/jobs` dashboard shows."""

    queues: list[QueueOverview]
    limiters: list[LimiterStatus]
    workers: list[WorkerInfo]


@router.get("", response_model=QueuesPublic, responses={503: {"description": "Redis down"}})
async def get_queues(
    settings: SettingsDep, queues: QueuesDep, redis: RedisDep, _access: ReadAccessDep
) -> QueuesPublic:
    """Counts per state and recent jobs of every queue, the state of every limiter and worker."""
    overviews = [await queue_overview(queues, name) for name in ALL_QUEUES]
    try:
        limiters = [await limiter.status() for limiter in deployment_limiters(redis, settings).values()]
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable("redis", f"{queues.redis_label}: {exc}") from exc
    return QueuesPublic(queues=overviews, limiters=limiters, workers=await connected_workers(queues))


QueueName = Literal["test-jobs", "areas"]
_REDIS_DOWN: dict[int | str, dict[str, str]] = {503: {"description": "Redis down"}}


class QueueChanged(BaseModel):
    """The outcome of a bulk action or a pause."""

    queue: str
    paused: bool | None = None
    retried: int | None = Field(default=None, description="failed jobs moved back to waiting")
    removed: int | None = Field(default=None, description="failed jobs deleted")


@router.get("/history", response_model=History, responses=_REDIS_DOWN)
async def get_history(
    settings: SettingsDep,
    redis: RedisDep,
    _access: ReadAccessDep,
    minutes: Annotated[int, Query(ge=1, le=24 * 60, description="the last this many minutes")] = 60,
) -> History:
    """Jobs completed and failed per queue and upstream calls per source, per minute (kept 48 h)."""
    try:
        return await read_history(redis, settings.queue_prefix, minutes=minutes)
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable("redis", str(exc)) from exc


@router.get("/{queue}/jobs", response_model=JobPage, responses=_REDIS_DOWN)
async def find_jobs(
    queue: QueueName,
    queues: QueuesDep,
    _access: ReadAccessDep,
    state: Annotated[
        list[JobState] | None, Query(description="only these states (repeatable); all by default")
    ] = None,
    name: Annotated[
        str | None, Query(min_length=1, max_length=64, description="only jobs of this name")
    ] = None,
    q: Annotated[
        str | None, Query(min_length=1, max_length=200, description="in the id or the failure, any case")
    ] = None,
    cursor: Annotated[int, Query(ge=0, le=10**9, description="the `next_cursor` of the page before")] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> JobPage:
    """Jobs of a queue, newest first, filtered; a page looks at no more than 2,000 jobs."""
    states = [s for s in (state or JOB_STATES) if s != "unknown"]
    return await search_jobs(queues, queue, states=states, name=name, text=q, cursor=cursor, limit=limit)


@router.post("/{queue}/retry-failed", response_model=QueueChanged, responses=_REDIS_DOWN)
async def retry_all_failed(queue: QueueName, queues: QueuesDep, _access: WriteAccessDep) -> QueueChanged:
    """Move every failed job of the queue back to waiting: each runs once more (BullMQ's `retryJobs`
    keeps the attempts made; `POST /api/jobs/{id}/retry` starts one job's attempts again)."""
    return QueueChanged(queue=queue, retried=await retry_failed(queues, queue))


@router.post("/{queue}/clean-failed", response_model=QueueChanged, responses=_REDIS_DOWN)
async def clean_all_failed(queue: QueueName, queues: QueuesDep, _access: WriteAccessDep) -> QueueChanged:
    """Delete the failed jobs of the queue (up to 10,000 a call)."""
    return QueueChanged(queue=queue, removed=await clean_failed(queues, queue))


@router.post("/{queue}/pause", response_model=QueueChanged, responses=_REDIS_DOWN)
async def pause(queue: QueueName, queues: QueuesDep, _access: WriteAccessDep) -> QueueChanged:
    """Workers take no new job from the queue (those active finish) until it is resumed."""
    await set_paused(queues, queue, paused=True)
    return QueueChanged(queue=queue, paused=True)


@router.post("/{queue}/resume", response_model=QueueChanged, responses=_REDIS_DOWN)
async def resume(queue: QueueName, queues: QueuesDep, _access: WriteAccessDep) -> QueueChanged:
    """Workers take jobs from the queue again."""
    await set_paused(queues, queue, paused=False)
    return QueueChanged(queue=queue, paused=False)
