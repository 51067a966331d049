"""Queues: counts per state, recent jobs, rate limiters and connected workers, for the dashboard."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from redis.exceptions import RedisError

from areafetch.constants import ALL_QUEUES
from areafetch.errors import ServiceUnavailable
from areafetch.queue.admin import QueueOverview, WorkerInfo, connected_workers, queue_overview
from areafetch.ratelimit import LimiterStatus
from areafetch.ratelimit.pools import deployment_limiters
from areafetch.web.deps import QueuesDep, ReadAccessDep, RedisDep, SettingsDep

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
