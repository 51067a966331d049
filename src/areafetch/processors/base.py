"""The shape of a processor and the resources it is given."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    import asyncpg
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncEngine

    from areafetch.config import Settings
    from areafetch.cpu import CpuPool
    from areafetch.jobs import JobModel
    from areafetch.processors.upstreams import Upstreams

__all__ = ["JobContext", "Processor", "Resources"]

PayloadT = TypeVar("PayloadT", bound="JobModel", contravariant=True)
ResultT = TypeVar("ResultT", bound="JobModel", covariant=True)


@dataclass(frozen=True)
class Resources:
    """What a worker process opens once and shares with every job."""

    settings: Settings
    engine: AsyncEngine
    driver_pool: asyncpg.Pool  # asyncpg's own, for a job that is one statement (`open_driver_pool`)
    redis: Redis
    cpu: CpuPool
    upstreams: Upstreams
    flows: Any  # bullmq.FlowProducer: adds an area's fetch jobs under its finalise job


@dataclass(frozen=True)
class JobContext:
    """One job's view of the worker: shared resources plus who and which attempt it is."""

    resources: Resources
    job_id: str
    queue: str
    name: str
    attempt: int
    max_attempts: int
    bullmq_job: Any  # bullmq.Job, for progress updates

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts

    async def report_progress(self, progress: int | float | dict[str, Any]) -> None:
        await self.bullmq_job.updateProgress(progress)


class Processor(Protocol[PayloadT, ResultT]):
    """`async def process(payload, ctx) -> result`: the work of one job kind."""

    async def __call__(self, payload: PayloadT, ctx: JobContext, /) -> ResultT: ...
