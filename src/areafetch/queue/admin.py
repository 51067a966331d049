"""Operating the queues: counts, recent jobs, connected workers, retry and cancel.

What a dashboard (the `/jobs` page, `GET /api/queues`) shows and does; producers use `queue.producer`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bullmq import Job
from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from areafetch.constants import ALL_QUEUES
from areafetch.errors import JobNotFound, JobStateConflict, ServiceUnavailable
from areafetch.queue.producer import JOB_STATES, Queues

__all__ = [
    "JobSummary",
    "QueueOverview",
    "WorkerInfo",
    "cancel_job",
    "connected_workers",
    "queue_overview",
    "retry_job",
]

_CANCELLABLE = frozenset({"waiting", "delayed", "prioritized"})


class JobSummary(BaseModel):
    """One job as the dashboard lists it."""

    id: str
    name: str
    state: str
    progress: int | float | dict[str, Any] | list[Any] | str | bool | None
    attempts: int = Field(description="attempts made so far")
    duration_ms: int | None = Field(description="processing time of a finished job, or so far if active")
    failed_reason: str | None
    created_at: datetime


class QueueOverview(BaseModel):
    """Counts per state and the most recent jobs of one queue."""

    name: str
    counts: dict[str, int]
    recent: list[JobSummary]


class WorkerInfo(BaseModel):
    """A worker as Redis sees it (`CLIENT LIST`): a bullmq Worker holds several connections, merged here
    by the worker's name over the queues it serves."""

    name: str = Field(description="the worker's name (areafetch names them host:pid), else its address")
    address: str = Field(description="the address of its first connection")
    connections: int = Field(description="its connections to Redis")
    age_s: int = Field(description="seconds since its oldest connection was opened")
    idle_s: int = Field(description="the shortest idle time among its connections")
    queues: list[str]


async def queue_overview(queues: Queues, name: str, *, recent: int = 20) -> QueueOverview:
    """Counts per state and the `recent` newest jobs of the queue `name`."""
    queue = queues.get(name)
    try:
        counts = await queue.getJobCounts(*JOB_STATES)
        jobs: list[Job] = await queue.getJobs(list(JOB_STATES), 0, max(recent - 1, 0), False)
        summaries = [await _summary(queues, name, job) for job in jobs if job is not None]
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable("redis", f"{queues.redis_label}: {exc}") from exc
    summaries.sort(key=lambda job: job.created_at, reverse=True)
    return QueueOverview(
        name=name,
        counts={state: int(counts.get(state, 0)) for state in JOB_STATES},
        recent=summaries[:recent],
    )


async def connected_workers(queues: Queues) -> list[WorkerInfo]:
    """Workers connected to any of our queues, one entry per worker."""
    connections: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    try:
        for queue_name in ALL_QUEUES:
            for client in await queues.get(queue_name).get_workers():
                # bullmq names a worker's connections `<prefix>:<queue>[:w:<worker name>]`
                _, marker, own = str(client.get("rawname", "")).partition(":w:")
                name = own if marker else str(client.get("addr", "?"))
                connections.setdefault(name, []).append((queue_name, client))
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable("redis", f"{queues.redis_label}: {exc}") from exc
    workers = [
        WorkerInfo(
            name=name,
            address=str(group[0][1].get("addr", "")),
            connections=len(group),
            age_s=max(_int(client.get("age")) for _, client in group),
            idle_s=min(_int(client.get("idle")) for _, client in group),
            queues=list(dict.fromkeys(queue_name for queue_name, _ in group)),
        )
        for name, group in connections.items()
    ]
    return sorted(workers, key=lambda worker: (worker.queues, worker.name))


async def retry_job(queues: Queues, job_id: str) -> str:
    """Move a failed job back to waiting; returns its queue.

    Raises:
        JobNotFound: No job has this id.
        JobStateConflict: The job has not failed.
    """
    queue_name, job, state = await _find(queues, job_id)
    if state != "failed":
        raise JobStateConflict(f"job {job_id} is {state}; only a failed job can be retried")
    try:
        await job.retry("failed", {"resetAttemptsMade": True, "resetAttemptsStarted": True})
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable("redis", f"{queues.redis_label}: {exc}") from exc
    except TypeError as exc:  # bullmq's error for a script's "not in the failed state": it moved meanwhile
        raise JobStateConflict(f"job {job_id} cannot be retried: {exc}") from exc
    return queue_name


async def cancel_job(queues: Queues, job_id: str) -> str:
    """Remove a job that has not started (waiting or delayed); returns its queue.

    Raises:
        JobNotFound: No job has this id.
        JobStateConflict: The job is active or finished.
    """
    queue_name, _job, state = await _find(queues, job_id)
    if state not in _CANCELLABLE:
        raise JobStateConflict(f"job {job_id} is {state}; only a waiting or delayed job can be cancelled")
    try:
        removed = await queues.get(queue_name).remove(job_id)
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable("redis", f"{queues.redis_label}: {exc}") from exc
    if not removed:  # locked: a worker took it meanwhile
        raise JobStateConflict(f"job {job_id} cannot be cancelled: a worker has just taken it")
    return queue_name


async def _find(queues: Queues, job_id: str) -> tuple[str, Job, str]:
    try:
        for name in ALL_QUEUES:
            queue = queues.get(name)
            job = await Job.fromId(queue, job_id)
            if job is not None:
                return name, job, str(await queue.getJobState(job_id))
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable("redis", f"{queues.redis_label}: {exc}") from exc
    raise JobNotFound(f"no job with id {job_id!r}")


async def _summary(queues: Queues, queue_name: str, job: Job) -> JobSummary:
    state = str(await queues.get(queue_name).getJobState(str(job.id)))
    return JobSummary(
        id=str(job.id),
        name=str(job.name),
        state=state,
        progress=job.progress,
        attempts=int(job.attemptsMade),
        duration_ms=_duration_ms(job),
        failed_reason=job.failedReason or None,
        created_at=datetime.fromtimestamp(job.timestamp / 1000, UTC) if job.timestamp else datetime.now(UTC),
    )


def _duration_ms(job: Job) -> int | None:
    if not job.processedOn:
        return None
    end = job.finishedOn or int(datetime.now(UTC).timestamp() * 1000)
    return max(int(end) - int(job.processedOn), 0)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
