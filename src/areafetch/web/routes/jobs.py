"""Jobs: the story's `addTestJob` server action, and job status."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from areafetch.errors import JobNotFound
from areafetch.jobs import TestJobPayload
from areafetch.queue import JobPublic, enqueue_test_job, find_job
from areafetch.web.deps import QueuesDep

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


class TestJobCreate(TestJobPayload):
    """A test job request: the payload plus when to run it."""

    __test__ = False

    delay_ms: int = Field(
        default=0, ge=0, le=600_000, description="run no earlier than this many ms from now"
    )


class JobCreated(BaseModel):
    job_id: str


@router.post("/test", status_code=202, response_model=JobCreated)
async def add_test_job(body: TestJobCreate, queues: QueuesDep) -> JobCreated:
    """Enqueue a test job on the `test-jobs` queue."""
    payload = TestJobPayload.model_validate(body.model_dump(exclude={"delay_ms"}))
    return JobCreated(job_id=await enqueue_test_job(queues, payload, delay_ms=body.delay_ms))


@router.get("/{job_id}", response_model=JobPublic, responses={404: {"description": "no such job"}})
async def get_job(
    job_id: Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")],
    queues: QueuesDep,
) -> JobPublic:
    """A job's state, progress, result and failure reason."""
    job = await find_job(queues, job_id)
    if job is None:
        raise JobNotFound(f"no job with id {job_id!r}")
    return job
