"""Operating the queues: counts, recent jobs, connected workers, retry and cancel.

What a dashboard (the `/jobs` page, `GET /api/queues`) shows and does; producers use `queue.producer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from bullmq import Job
from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from areafetch.constants import ALL_QUEUES
from areafetch.errors import JobNotFound, JobStateConflict, ServiceUnavailable
from areafetch.queue.producer import JOB_STATES, Queues

__all__ = [
    "JobDetail",
    "JobPage",
    "JobSummary",
    "QueueOverview",
    "WorkerInfo",
    "cancel_job",
    "clean_failed",
    "connected_workers",
    "job_detail",
    "queue_overview",
    "retry_failed",
    "retry_job",
    "search_jobs",
    "set_paused",
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
    paused: bool = Field(description="paused: workers take no new job from it until it is resumed")
    counts: dict[str, int]
    recent: list[JobSummary]


class JobDetail(BaseModel):
    """Everything the console's job page shows."""

    id: str
    queue: str
    name: str
    state: str
    data: Any
    options: dict[str, Any] = Field(description="BullMQ's job options as stored (attempts, backoff, ...)")
    progress: int | float | dict[str, Any] | list[Any] | str | bool | None
    result: Any = Field(description="the return value once completed")
    failed_reason: str | None
    stacktrace: list[str] = Field(description="one entry per failed attempt, newest last")
    logs: list[str] = Field(description="the job's own log lines (`job.log`), oldest first")
    logs_total: int
    attempts_made: int
    max_attempts: int
    created_at: datetime
    processed_at: datetime | None
    finished_at: datetime | None
    waited_ms: int | None = Field(description="from creation (or its delay's end) to the last start")
    ran_ms: int | None = Field(description="the last attempt's run, or so far if active")
    parent: str | None = Field(description="the parent job's key in a flow")


class JobPage(BaseModel):
    """One page of a search; `next_cursor` goes on scanning where this page stopped."""

    jobs: list[JobSummary]
    scanned: int = Field(description="jobs looked at for this page")
    next_cursor: int | None


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
        paused = bool(await queue.isPaused())
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable("redis", f"{queues.redis_label}: {exc}") from exc
    summaries.sort(key=lambda job: job.created_at, reverse=True)
    return QueueOverview(
        name=name,
        paused=paused,
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


_LOGS_SHOWN = 1000


async def job_detail(queues: Queues, job_id: str) -> JobDetail:
    """A job with its data, result, failure, stack traces, logs and timings.

    Raises:
        JobNotFound: No job has this id.
    """
    queue_name, job, state = await _find(queues, job_id)
    try:
        logs = await queues.get(queue_name).getJobLogs(job_id, 0, _LOGS_SHOWN - 1, True)
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable("redis", f"{queues.redis_label}: {exc}") from exc
    started = int(job.timestamp or 0) + int(job.opts.get("delay") or 0)
    return JobDetail(
        id=str(job.id),
        queue=queue_name,
        name=str(job.name),
        state=state,
        data=job.data,
        options=dict(job.opts),
        progress=job.progress,
        result=job.returnvalue,
        failed_reason=job.failedReason or None,
        stacktrace=[line for line in job.stacktrace or [] if line],
        logs=[_text(line) for line in logs.get("logs", [])],
        logs_total=int(logs.get("count", 0)),
        attempts_made=int(job.attemptsMade),
        max_attempts=int(job.opts.get("attempts") or 1),
        created_at=_time(job.timestamp) or datetime.now(UTC),
        processed_at=_time(job.processedOn),
        finished_at=_time(job.finishedOn),
        waited_ms=max(int(job.processedOn) - started, 0) if job.processedOn else None,
        ran_ms=_duration_ms(job),
        parent=job.parentKey or None,
    )


_SCAN_WINDOW = 200


async def search_jobs(
    queues: Queues,
    queue_name: str,
    *,
    states: Sequence[str],
    name: str | None = None,
    text: str | None = None,
    cursor: int = 0,
    limit: int = 50,
    scan_limit: int = 2000,
) -> JobPage:
    """Jobs of the states (newest first) whose name is `name` and whose id or failure holds `text`
    (any case); at most `scan_limit` jobs are looked at per call, so a large queue is never read whole."""
    queue = queues.get(queue_name)
    needle = (text or "").casefold()
    found: list[JobSummary] = []
    position = cursor
    try:
        while len(found) < limit and position - cursor < scan_limit:
            window: list[Job | None] = await queue.getJobs(
                states, position, position + _SCAN_WINDOW - 1, False
            )
            if not window:
                return JobPage(jobs=found, scanned=position - cursor, next_cursor=None)
            for job in window:
                position += 1
                if job is not None and _matches(job, name, needle):
                    found.append(await _summary(queues, queue_name, job))
                    if len(found) == limit:
                        break
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable("redis", f"{queues.redis_label}: {exc}") from exc
    return JobPage(jobs=found, scanned=position - cursor, next_cursor=position)


def _matches(job: Job, name: str | None, needle: str) -> bool:
    if name and job.name != name:
        return False
    return not needle or needle in str(job.id).casefold() or needle in (job.failedReason or "").casefold()


async def retry_failed(queues: Queues, queue_name: str) -> int:
    """Move every failed job of the queue back to waiting (BullMQ's `retryJobs`, in batches);
    returns how many were failed."""
    queue = queues.get(queue_name)
    try:
        failed = int((await queue.getJobCounts("failed")).get("failed", 0))
        await queue.retryJobs({"state": "failed", "count": 1000})
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable("redis", f"{queues.redis_label}: {exc}") from exc
    return failed


async def clean_failed(queues: Queues, queue_name: str, *, limit: int = 10_000) -> int:
    """Delete up to `limit` failed jobs of the queue; returns how many."""
    try:
        removed = await queues.get(queue_name).clean(0, limit, "failed")
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable("redis", f"{queues.redis_label}: {exc}") from exc
    return len(removed or [])


async def set_paused(queues: Queues, queue_name: str, *, paused: bool) -> None:
    """Pause (workers take no new job; active ones finish) or resume the queue."""
    queue = queues.get(queue_name)
    try:
        await (queue.pause() if paused else queue.resume())
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable("redis", f"{queues.redis_label}: {exc}") from exc


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


def _time(ms: Any) -> datetime | None:
    return datetime.fromtimestamp(int(ms) / 1000, UTC) if ms else None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


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
