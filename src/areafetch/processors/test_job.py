"""The test job's processor: optional wait, CPU work in the pool, failure on request, a DB record."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime

from areafetch.cpu import burn_cpu
from areafetch.db import record_test_job_run
from areafetch.jobs import TestJobPayload, TestJobResult
from areafetch.processors.base import JobContext

__all__ = ["TestJobFailure", "process_test_job"]


class TestJobFailure(Exception):
    """The failure a test job asked for (`fail: true`)."""

    __test__ = False


async def process_test_job(payload: TestJobPayload, ctx: JobContext) -> TestJobResult:
    started_at = datetime.now(UTC)
    if payload.work_ms:
        await asyncio.sleep(payload.work_ms / 1000)
    iterations = await ctx.resources.cpu.run(burn_cpu, payload.cpu_ms) if payload.cpu_ms else 0
    if payload.fail:
        raise TestJobFailure(f"test job failed on purpose: {payload.message}")
    await ctx.report_progress(50)  # the work is done; recording it is what is left
    result = TestJobResult(
        message=payload.message,
        worker_pid=os.getpid(),
        started_at=started_at,
        finished_at=datetime.now(UTC),
        cpu_iterations=iterations,
    )
    await record_test_job_run(
        ctx.resources.driver_pool,
        job_id=ctx.job_id,
        queue=ctx.queue,
        name=ctx.name,
        payload=payload.model_dump_json(),
        result=result.model_dump_json(),
        attempt=ctx.attempt,
        started_at=result.started_at,
        finished_at=result.finished_at,
    )
    await ctx.report_progress(100)
    return result
