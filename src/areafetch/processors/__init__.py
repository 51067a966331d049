"""Processors: the work behind each job kind. Imported by the worker only, never by the web app."""

from __future__ import annotations

from typing import Any

from areafetch.jobs import (
    FETCH_TILE_SPEC,
    FINALISE_AREA_SPEC,
    PLAN_AREA_SPEC,
    REFRESH_AREA_SPEC,
    RETENTION_SPEC,
    TEST_JOB_SPEC,
    JobSpec,
)
from areafetch.processors.base import JobContext, Processor, Resources
from areafetch.processors.fetch import fetch_tile
from areafetch.processors.finalise import finalise_area
from areafetch.processors.plan import plan_area_job
from areafetch.processors.refresh import refresh_area_job
from areafetch.processors.retention import expire_google_content
from areafetch.processors.test_job import process_test_job

__all__ = ["PROCESSORS", "JobContext", "Processor", "Resources"]

PROCESSORS: dict[JobSpec[Any, Any], Processor[Any, Any]] = {
    TEST_JOB_SPEC: process_test_job,
    PLAN_AREA_SPEC: plan_area_job,
    FETCH_TILE_SPEC: fetch_tile,
    FINALISE_AREA_SPEC: finalise_area,
    REFRESH_AREA_SPEC: refresh_area_job,
    RETENTION_SPEC: expire_google_content,
}
