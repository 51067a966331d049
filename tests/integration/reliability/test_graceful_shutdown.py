"""Fault 5: SIGTERM with jobs in flight. Within the grace period they finish; past it they are handed
back to `wait` at once (not when their locks expire), so no job stays `active` after the worker exits."""

from __future__ import annotations

import signal
import time

import pytest

from areafetch.config import Settings
from areafetch.jobs import TestJobPayload
from areafetch.queue import Queues, enqueue_test_job, find_job
from tests.helpers import ProcessFactory, finished, in_state, settings_env
from tests.integration.reliability.faults import record_fault

pytestmark = pytest.mark.reliability


@pytest.mark.timeout(90)
async def test_jobs_in_flight_finish_within_the_grace_period(
    settings: Settings, processes: ProcessFactory, queues: Queues
) -> None:
    worker = await processes.worker(settings_env(settings), "--concurrency", "3")
    job_ids = [
        await enqueue_test_job(queues, TestJobPayload(message=f"short {n}", work_ms=1500)) for n in range(3)
    ]
    for job_id in job_ids:
        await worker.wait_for_event("job.started", job_id=job_id)

    worker.signal(signal.SIGTERM)
    assert await worker.wait_exit(timeout_s=settings.shutdown_grace_s + 5) == 0

    for job_id in job_ids:
        job = await find_job(queues, job_id)
        assert job is not None
        assert (job.state, job.attempts_made) == ("completed", 1)
    assert worker.events("worker.force_closing") == []
    record_fault("SIGTERM, jobs finish within the grace period", injected=1, jobs_lost=0, duplicates=0)


@pytest.mark.timeout(120)
async def test_job_past_the_grace_period_is_handed_back_at_once_and_completes_once(
    settings: Settings, processes: ProcessFactory, queues: Queues
) -> None:
    # A lock far longer than the test: only the hand-back, not the stalled check, can free the job.
    short = settings.model_copy(
        update={"shutdown_grace_s": 1.0, "lock_duration_ms": 120_000, "stalled_interval_ms": 120_000}
    )
    env = settings_env(short)
    first = await processes.worker(env)
    job_id = await enqueue_test_job(queues, TestJobPayload(message="endless", work_ms=60_000))
    await first.wait_for_event("job.started", job_id=job_id)
    active = await find_job(queues, job_id)
    assert active is not None
    assert active.state == "active"

    first.signal(signal.SIGTERM)
    assert await first.wait_exit(timeout_s=10) == 0
    exited = time.monotonic()
    waiting = await in_state(queues, job_id, "waiting", timeout_s=2)
    handed_back_s = time.monotonic() - exited

    assert waiting.attempts_made == 0  # the interrupted run is not counted as an attempt
    assert first.events("job.interrupted", job_id=job_id)
    assert first.events("job.handed_back", job_id=job_id)

    second = await processes.worker(settings_env(short.model_copy(update={"shutdown_grace_s": 10.0})))
    await second.wait_for_event("job.started", job_id=job_id, timeout_s=5)
    job = await finished(queues, job_id, timeout_s=90)

    assert (job.state, job.attempts_made) == ("completed", 1)
    assert len(second.events("job.completed", job_id=job_id)) == 1
    assert first.events("job.completed", job_id=job_id) == []
    assert second.events("job.stalled") == []
    print(f"\nhanded back {handed_back_s:.2f}s after the worker exited")
    record_fault("SIGTERM past the grace period (1 s grace, 60 s job)", injected=1, jobs_lost=0, duplicates=0)
