"""Processors: the work behind each job kind. Imported by the worker only, never by the web app."""

from __future__ import annotations

from typing import Any

from areafetch.jobs import TEST_JOB_SPEC, JobSpec
from areafetch.processors.base import JobContext, Processor, Resources
from areafetch.processors.test_job import process_test_job

__all__ = ["PROCESSORS", "JobContext", "Processor", "Resources"]

PROCESSORS: dict[JobSpec[Any, Any], Processor[Any, Any]] = {
    TEST_JOB_SPEC: process_test_job,
}
