"""The story's test job: proves the queue, the worker and the database work end to end."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from areafetch.constants import TEST_JOB, TEST_QUEUE
from areafetch.jobs.base import JobModel, JobSpec

__all__ = ["TEST_JOB_SPEC", "TestJobPayload", "TestJobResult"]


class TestJobPayload(JobModel):
    """What a test job carries."""

    __test__ = False  # not a pytest test class

    message: str = Field(min_length=1, max_length=200, description="echoed back in the result")
    fail: bool = Field(default=False, description="raise an error on every attempt")
    work_ms: int = Field(default=0, ge=0, le=600_000, description="time to spend waiting (I/O-like work)")
    cpu_ms: int = Field(default=0, ge=0, le=600_000, description="CPU time to burn in the process pool")


class TestJobResult(JobModel):
    """What a test job returns."""

    __test__ = False

    message: str
    worker_pid: int
    started_at: datetime
    finished_at: datetime
    cpu_iterations: int = 0


TEST_JOB_SPEC: JobSpec[TestJobPayload, TestJobResult] = JobSpec(
    queue=TEST_QUEUE, name=TEST_JOB, payload_model=TestJobPayload, result_model=TestJobResult
)
