"""Jobs: the story's `addTestJob` server action, and job status."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from areafetch.errors import JobNotFound
from areafetch.jobs import TestJobPayload
from areafetch.queue import JobPublic, enqueue_test_job, find_job
from areafetch.queue.admin import JobDetail, cancel_job, job_detail, retry_job
from areafetch.web.deps import QueuesDep, ReadAccessDep, SubmitSlotDep, WriteAccessDep

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


class TestJobCreate(TestJobPayload):
    """A test job request: the payload plus when to run it."""

    __test__ = False
    model_config = ConfigDict(strict=True)  # JSON's types as they are: `false` is not a number of ms

    delay_ms: int = Field(
        default=0, ge=0, le=600_000, description="run no earlier than this many ms from now"
    )


class JobCreated(BaseModel):
    job_id: str


class JobChanged(BaseModel):
    """The outcome of a retry or a cancel."""

    job_id: str
    queue: str
    state: Literal["waiting", "removed"]


JobId = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]
_CHANGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such job"},
    409: {"description": "the job is in a state that does not allow this"},
    503: {"description": "Redis down"},
}


@router.post("/test", status_code=202, response_model=JobCreated)
async def add_test_job(body: TestJobCreate, queues: QueuesDep, _slot: SubmitSlotDep) -> JobCreated:
    """Enqueue a test job on the `test-jobs` queue."""
    payload = TestJobPayload.model_validate(body.model_dump(exclude={"delay_ms"}))
    return JobCreated(job_id=await enqueue_test_job(queues, payload, delay_ms=body.delay_ms))


@router.get("/{job_id}", response_model=JobPublic, responses={404: {"description": "no such job"}})
async def get_job(
    job_id: JobId,
    queues: QueuesDep,
    _access: ReadAccessDep,
) -> JobPublic:
    """A job's state, progress, result and failure reason."""
    job = await find_job(queues, job_id)
    if job is None:
        raise JobNotFound(f"no job with id {job_id!r}")
    return job


@router.get("/{job_id}/detail", response_model=JobDetail, responses={404: {"description": "no such job"}})
async def get_job_detail(job_id: JobId, queues: QueuesDep, _access: ReadAccessDep) -> JobDetail:
    """A job with its data, options, result, failure and stack traces, its own log lines and timings."""
    return await job_detail(queues, job_id)


@router.post("/{job_id}/retry", status_code=202, response_model=JobChanged, responses=_CHANGE_RESPONSES)
async def retry(job_id: JobId, queues: QueuesDep, _access: WriteAccessDep) -> JobChanged:
    """Move a failed job back to waiting (its attempts start again); 409 for any other state."""
    queue = await retry_job(queues, job_id)
    return JobChanged(job_id=job_id, queue=queue, state="waiting")


@router.post("/{job_id}/cancel", status_code=202, response_model=JobChanged, responses=_CHANGE_RESPONSES)
async def cancel(job_id: JobId, queues: QueuesDep, _access: WriteAccessDep) -> JobChanged:
    """Remove a waiting or delayed job; 409 once it is active or finished."""
    queue = await cancel_job(queues, job_id)
    return JobChanged(job_id=job_id, queue=queue, state="removed")
