"""Job kinds: payload and result models only (the web app imports this, never processors)."""

from __future__ import annotations

from typing import Any

from areafetch.jobs.areas import (
    FETCH_TILE_SPEC,
    FINALISE_AREA_SPEC,
    PLAN_AREA_SPEC,
    REFRESH_AREA_SPEC,
    RETENTION_SPEC,
    AreaRef,
    AreaSummary,
    FetchTilePayload,
    FetchTileResult,
    PlanAreaResult,
    RefreshResult,
    RetentionPayload,
    RetentionResult,
)
from areafetch.jobs.base import JobModel, JobSpec, describe_validation_error
from areafetch.jobs.test_job import TEST_JOB_SPEC, TestJobPayload, TestJobResult

__all__ = [
    "FETCH_TILE_SPEC",
    "FINALISE_AREA_SPEC",
    "JOB_SPECS",
    "PLAN_AREA_SPEC",
    "REFRESH_AREA_SPEC",
    "RETENTION_SPEC",
    "TEST_JOB_SPEC",
    "AreaRef",
    "AreaSummary",
    "FetchTilePayload",
    "FetchTileResult",
    "JobModel",
    "JobSpec",
    "PlanAreaResult",
    "RefreshResult",
    "RetentionPayload",
    "RetentionResult",
    "TestJobPayload",
    "TestJobResult",
    "describe_validation_error",
    "find_spec",
]

JOB_SPECS: tuple[JobSpec[Any, Any], ...] = (
    TEST_JOB_SPEC,
    PLAN_AREA_SPEC,
    FETCH_TILE_SPEC,
    FINALISE_AREA_SPEC,
    REFRESH_AREA_SPEC,
    RETENTION_SPEC,
)
_SPECS_BY_QUEUE_AND_NAME: dict[tuple[str, str], JobSpec[Any, Any]] = {
    (spec.queue, spec.name): spec for spec in JOB_SPECS
}


def find_spec(queue: str, name: str) -> JobSpec[Any, Any] | None:
    """The spec of job `name` on `queue`, or None for a job kind we do not know."""
    return _SPECS_BY_QUEUE_AND_NAME.get((queue, name))
