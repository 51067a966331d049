"""The producer side (the story's `src/lib/queue.ts`): one Queue per name, typed enqueue functions.

Job ids are ours (uuid4 hex) so that one id names one job across all queues, and
`find_job` can answer `GET /api/jobs/{id}` without being told the queue.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar, get_args

from bullmq import FlowProducer, Job, Queue
from pydantic import BaseModel, Field
from redis.exceptions import RedisError

from areafetch.areas import plan_job_id
from areafetch.config import Settings
from areafetch.constants import ALL_QUEUES
from areafetch.errors import ServiceUnavailable
from areafetch.jobs import PLAN_AREA_SPEC, TEST_JOB_SPEC, AreaRef, JobModel, JobSpec, TestJobPayload
from areafetch.redaction import redacted_url
from areafetch.redis import client_for
from areafetch.tracing import enqueue_span, with_trace

__all__ = [
    "JOB_STATES",
    "JobPublic",
    "JobState",
    "Queues",
    "default_job_options",
    "enqueue",
    "enqueue_area_plan",
    "enqueue_many",
    "enqueue_test_job",
    "find_job",
]

PayloadT = TypeVar("PayloadT", bound=JobModel)

JobState = Literal[
    "waiting",
    "prioritized",
    "delayed",
    "active",
    "waiting-children",
    "paused",
    "completed",
    "failed",
    "unknown",
]
# BullMQ's job states, in the order a job passes through them ("unknown": a state this version does not know).
JOB_STATES: tuple[JobState, ...] = tuple(state for state in get_args(JobState) if state != "unknown")


class JobPublic(BaseModel):
    """A job as the HTTP API shows it."""

    id: str
    queue: str
    name: str
    state: JobState
    progress: int | float | dict[str, Any] | list[Any] | str | bool | None
    result: Any = Field(default=None, description="the job's return value once completed")
    failed_reason: str | None = None
    attempts_made: int
    created_at: datetime
    processed_at: datetime | None = None
    finished_at: datetime | None = None


def default_job_options(settings: Settings) -> dict[str, Any]:
    """Retries with exponential backoff; finished jobs trimmed by age and count so Redis stays bounded."""
    return {
        "attempts": settings.job_attempts,
        "backoff": {"type": "exponential", "delay": settings.job_backoff_ms},
        "removeOnComplete": {"age": settings.keep_completed_age_s, "count": settings.keep_completed_count},
        "removeOnFail": {"age": settings.keep_failed_age_s, "count": settings.keep_failed_count},
    }


class Queues:
    """The Queue of every queue name, created on first use, reused, closed together."""

    def __init__(self, settings: Settings, *, connection_retries: int = 3) -> None:
        self._settings = settings
        self._connection_retries = connection_retries
        self._queues: dict[str, Queue] = {}
        self._flows: FlowProducer | None = None

    @property
    def settings(self) -> Settings:
        return self._settings

    def get(self, name: str) -> Queue:
        queue = self._queues.get(name)
        if queue is None:
            options = {**self._options(), "defaultJobOptions": default_job_options(self._settings)}
            queue = self._queues[name] = Queue(name, options)
        return queue

    def flows(self) -> FlowProducer:
        """The flow producer, to add a parent job with its children at once."""
        if self._flows is None:
            self._flows = FlowProducer(self._options())
        return self._flows

    def _options(self) -> dict[str, Any]:
        return {
            "prefix": self._settings.queue_prefix,
            # A client of our own (not bullmq's 20 retries of up to 20 s): producers answer
            # HTTP requests and must fail fast while Redis is down.
            "connection": client_for(self._settings, retries=self._connection_retries),
        }

    @property
    def redis_label(self) -> str:
        return redacted_url(self._settings.redis_url)

    async def close(self) -> None:
        queues, self._queues = list(self._queues.values()), {}
        for queue in queues:
            await queue.close()
        flows, self._flows = self._flows, None
        if flows is not None:
            await flows.close()


async def enqueue(
    queues: Queues,
    spec: JobSpec[PayloadT, Any],
    payload: PayloadT,
    *,
    delay_ms: int = 0,
    job_id: str | None = None,
) -> str:
    """Validate `payload` against its spec and add it to the spec's queue; returns the job id."""
    data = spec.dump_payload(spec.payload_model.model_validate(payload))
    options: dict[str, Any] = {"jobId": job_id or uuid.uuid4().hex}
    if delay_ms:
        options["delay"] = delay_ms
    with enqueue_span(spec.queue, spec.name) as carrier:
        try:
            job = await queues.get(spec.queue).add(spec.name, data, with_trace(options, carrier))
        except (RedisError, OSError) as exc:
            raise ServiceUnavailable("redis", f"{queues.redis_label}: {exc}") from exc
    return str(job.id)


async def enqueue_many(
    queues: Queues, spec: JobSpec[PayloadT, Any], payloads: Iterable[PayloadT]
) -> list[str]:
    """Validate every payload, then add them all to the spec's queue at once (bullmq `addBulk`);
    returns the job ids in order. Nothing is added when one payload is invalid."""
    data = [spec.dump_payload(spec.payload_model.model_validate(payload)) for payload in payloads]
    if not data:
        return []
    with enqueue_span(spec.queue, spec.name, len(data)) as carrier:
        jobs = [
            {"name": spec.name, "data": item, "opts": with_trace({"jobId": uuid.uuid4().hex}, carrier)}
            for item in data
        ]
        try:
            added = await queues.get(spec.queue).addBulk(jobs)
        except (RedisError, OSError) as exc:
            raise ServiceUnavailable("redis", f"{queues.redis_label}: {exc}") from exc
    return [str(job.id) for job in added]


async def enqueue_test_job(queues: Queues, payload: TestJobPayload, *, delay_ms: int = 0) -> str:
    """The story's `addTestJob`: put one test job on the `test-jobs` queue."""
    return await enqueue(queues, TEST_JOB_SPEC, payload, delay_ms=delay_ms)


async def enqueue_area_plan(queues: Queues, area_id: uuid.UUID) -> str:
    """Queue the planning of a stored area; its job id is derived from the area id."""
    return await enqueue(queues, PLAN_AREA_SPEC, AreaRef(area_id=area_id), job_id=plan_job_id(area_id))


async def find_job(queues: Queues, job_id: str) -> JobPublic | None:
    """The job with this id in whichever queue holds it, or None."""
    try:
        for name in ALL_QUEUES:
            queue = queues.get(name)
            # State first, data second: a job seen in a finished state is then read with its final
            # fields (attempts, reason), never with those of the attempt before.
            state = await queue.getJobState(job_id)
            job = await Job.fromId(queue, job_id)
            if job is not None:
                return _to_public(job, name, str(state))
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable("redis", f"{queues.redis_label}: {exc}") from exc
    return None


def _to_public(job: Job, queue: str, state: str) -> JobPublic:
    return JobPublic(
        id=str(job.id),
        queue=queue,
        name=str(job.name),
        state=state if state in JOB_STATES else "unknown",
        progress=job.progress,
        result=job.returnvalue,
        failed_reason=job.failedReason,
        attempts_made=int(job.attemptsMade),
        created_at=_from_ms(job.timestamp) or datetime.now(UTC),
        processed_at=_from_ms(job.processedOn),
        finished_at=_from_ms(job.finishedOn),
    )


def _from_ms(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value / 1000, UTC) if value else None
