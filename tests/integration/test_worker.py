"""The worker as its own OS process: processing, logging, retries, validation, shutdown, CPU work."""

from __future__ import annotations

import itertools
import os
import signal

import psutil
from sqlalchemy import func, select

from areafetch.config import Settings
from areafetch.constants import TEST_JOB, TEST_QUEUE
from areafetch.db import create_engine, get_test_job_run, test_job_runs
from areafetch.jobs import TestJobPayload
from areafetch.queue import Queues, enqueue_test_job, find_job
from tests.helpers import ProcessFactory, db_row, finished, free_port, settings_env


async def test_worker_processes_test_job_and_records_it(
    settings: Settings, env: dict[str, str], processes: ProcessFactory, queues: Queues
) -> None:
    worker = await processes.worker(env)
    job_id = await enqueue_test_job(queues, TestJobPayload(message="hello"))

    job = await finished(queues, job_id)

    assert job.state == "completed"
    assert job.result["message"] == "hello"
    assert job.result["worker_pid"] == worker.pid
    row = await db_row(settings, job_id)
    assert row is not None
    assert (row["runs"], row["attempt"], row["payload"]["message"]) == (1, 1, "hello")  # type: ignore[index]
    completed = await worker.wait_for_event("job.completed", job_id=job_id)
    assert completed["queue"] == TEST_QUEUE
    assert completed["attempt"] == 1
    assert completed["duration_ms"] >= 0
    assert worker.events("worker.started")[0]["loop"] == "uvloop"  # the default where it is installed


async def test_a_worker_on_asyncios_own_loop_processes_test_jobs(
    env: dict[str, str], processes: ProcessFactory, queues: Queues
) -> None:
    worker = await processes.worker({**env, "AREAFETCH_EVENT_LOOP": "asyncio"})
    job_id = await enqueue_test_job(queues, TestJobPayload(message="on asyncio", cpu_ms=20))

    job = await finished(queues, job_id)

    assert job.state == "completed"
    assert job.result["cpu_iterations"] > 0  # the process pool answered this loop too
    assert worker.events("worker.started")[0]["loop"] == "asyncio"


async def test_failing_job_is_retried_with_exponential_backoff_then_failed(
    env: dict[str, str], processes: ProcessFactory, queues: Queues
) -> None:
    worker = await processes.worker(env)  # attempts=3, backoff 200 ms exponential (conftest)
    job_id = await enqueue_test_job(queues, TestJobPayload(message="boom", fail=True))

    job = await finished(queues, job_id)

    assert job.state == "failed"
    assert job.attempts_made == 3
    assert job.failed_reason == "test job failed on purpose: boom"
    starts = worker.events("job.started", job_id=job_id)
    assert [record["attempt"] for record in starts] == [1, 2, 3]
    failures = worker.events("job.failed", job_id=job_id)
    assert [record["will_retry"] for record in failures] == [True, True, False]
    gaps = _gaps_s([record["timestamp"] for record in starts])
    assert gaps[0] >= 0.2  # 200 ms, then 400 ms: exponential
    assert gaps[1] >= 0.4


async def test_invalid_payload_from_another_producer_fails_at_once_with_field_errors(
    settings: Settings, env: dict[str, str], processes: ProcessFactory, queues: Queues
) -> None:
    worker = await processes.worker(env)
    raw = queues.get(TEST_QUEUE)  # a producer that skips our models, e.g. a careless Node.js app
    job = await raw.add(
        TEST_JOB, {"message": "", "cpu_ms": -5, "extra": 1}, {"jobId": "raw-1", "attempts": 5}
    )

    result = await finished(queues, str(job.id))

    assert result.state == "failed"
    assert result.attempts_made == 1  # no retries
    reason = result.failed_reason or ""
    assert "message: String should have at least 1 character" in reason
    assert "cpu_ms: Input should be greater than or equal to 0" in reason
    assert "extra: Extra inputs are not permitted" in reason
    assert worker.proc.poll() is None  # the worker is still serving
    ok = await enqueue_test_job(queues, TestJobPayload(message="after"))
    assert (await finished(queues, ok)).state == "completed"


async def test_unknown_job_name_fails_without_retry(
    env: dict[str, str], processes: ProcessFactory, queues: Queues
) -> None:
    await processes.worker(env)
    job = await queues.get(TEST_QUEUE).add("mystery", {}, {"jobId": "mystery-1", "attempts": 3})

    result = await finished(queues, str(job.id))

    assert (result.state, result.attempts_made) == ("failed", 1)
    assert result.failed_reason == "unknown job name 'mystery' on queue 'test-jobs'"


async def test_cpu_heavy_job_longer_than_lock_duration_runs_exactly_once(
    settings: Settings, processes: ProcessFactory, queues: Queues
) -> None:
    # Lock 2 s, stalled check every 1 s, 5 s of CPU work: on the event loop this job would
    # lose its lock and be run again; in the process pool it keeps its lock.
    tight = settings.model_copy(update={"lock_duration_ms": 2000, "stalled_interval_ms": 1000})
    worker = await processes.worker(settings_env(tight))
    job_id = await enqueue_test_job(queues, TestJobPayload(message="crunch", cpu_ms=5000))

    job = await finished(queues, job_id, timeout_s=60)

    assert job.state == "completed"
    assert job.attempts_made == 1
    assert job.result["cpu_iterations"] > 0
    assert len(worker.events("job.started", job_id=job_id)) == 1
    assert worker.events("job.stalled") == []
    row = await db_row(settings, job_id)
    assert row is not None
    assert row["runs"] == 1


async def test_the_process_pool_runs_at_the_configured_niceness_and_the_worker_at_its_own(
    settings: Settings, processes: ProcessFactory, queues: Queues
) -> None:
    worker = await processes.worker(settings_env(settings.model_copy(update={"cpu_nice": 7})))
    job_id = await enqueue_test_job(queues, TestJobPayload(message="crunch", cpu_ms=100))
    assert (await finished(queues, job_id)).state == "completed"

    main = psutil.Process(worker.pid)
    pool = [child for child in main.children() if "--multiprocessing-fork" in child.cmdline()]

    assert len(pool) == settings.cpu_workers == 1
    assert main.nice() == os.nice(0)
    assert [child.nice() for child in pool] == [min(os.nice(0) + 7, 19)]


async def test_sigterm_lets_the_job_in_flight_finish_then_exits_zero(
    settings: Settings, env: dict[str, str], processes: ProcessFactory, queues: Queues
) -> None:
    worker = await processes.worker(env)
    job_id = await enqueue_test_job(queues, TestJobPayload(message="slow", work_ms=2000))
    await worker.wait_for_event("job.started", job_id=job_id)

    worker.signal(signal.SIGTERM)
    code = await worker.wait_exit(timeout_s=settings.shutdown_grace_s + 5)

    assert code == 0
    job = await find_job(queues, job_id)
    assert job is not None
    assert job.state == "completed"
    assert worker.events("worker.stopped")
    # it stopped taking work: a job added now waits for the next worker
    later = await enqueue_test_job(queues, TestJobPayload(message="later"))
    job_later = await find_job(queues, later)
    assert job_later is not None
    assert job_later.state == "waiting"


async def test_sigterm_force_closes_a_job_past_the_grace_period(
    settings: Settings, processes: ProcessFactory, queues: Queues
) -> None:
    short = settings.model_copy(update={"shutdown_grace_s": 1.0})
    worker = await processes.worker(settings_env(short))
    job_id = await enqueue_test_job(queues, TestJobPayload(message="endless", work_ms=60_000))
    await worker.wait_for_event("job.started", job_id=job_id)

    worker.signal(signal.SIGTERM)
    code = await worker.wait_exit(timeout_s=10)

    assert code == 0
    assert worker.events("worker.force_closing")
    assert worker.events("job.interrupted", job_id=job_id)


async def test_a_worker_stopped_before_redis_answers_exits_zero(
    env: dict[str, str], processes: ProcessFactory
) -> None:
    worker = await processes.worker(
        {**env, "AREAFETCH_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}, ready=False
    )
    await worker.wait_for_event("redis.unreachable")

    worker.signal(signal.SIGTERM)

    assert await worker.wait_exit() == 0, worker.text()
    assert worker.events("worker.stopped")


async def test_a_test_job_while_postgresql_is_unreachable_fails_naming_it(
    env: dict[str, str], processes: ProcessFactory, queues: Queues
) -> None:
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/areafetch"
    worker = await processes.worker({**env, "AREAFETCH_DATABASE_URL": unreachable})
    job_id = await enqueue_test_job(queues, TestJobPayload(message="no database"))

    job = await finished(queues, job_id)

    assert job.state == "failed"
    assert job.attempts_made == 3  # retried: an outage is not the job's fault
    assert job.failed_reason is not None
    assert job.failed_reason.startswith("postgresql unavailable: ConnectionRefusedError")
    assert [record["will_retry"] for record in worker.events("job.failed", job_id=job_id)] == [
        True,
        True,
        False,
    ]


def test_web_imports_no_processor_upstream_client_or_osmium() -> None:
    import subprocess
    import sys

    code = (
        "import sys, areafetch.web.app, areafetch.queue;"
        "bad = [m for m in sys.modules if m.startswith(('areafetch.processors', 'areafetch.worker',"
        " 'areafetch.providers', 'osmium'))];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


async def test_duplicate_completion_is_idempotent_in_the_database(settings: Settings) -> None:
    from datetime import UTC, datetime

    from areafetch.db import open_driver_pool, record_test_job_run

    engine = create_engine(settings.database_url)
    now = datetime.now(UTC)
    try:
        async with await open_driver_pool(settings.database_url, max_size=1) as pool:
            for attempt in (1, 2):
                await record_test_job_run(
                    pool,
                    job_id="dup-1",
                    queue=TEST_QUEUE,
                    name=TEST_JOB,
                    payload='{"message": "x"}',
                    result=f'{{"n": {attempt}}}',
                    attempt=attempt,
                    started_at=now,
                    finished_at=now,
                )
        async with engine.connect() as conn:
            count = await conn.scalar(
                select(func.count()).select_from(test_job_runs).where(test_job_runs.c.job_id == "dup-1")
            )
            row = await get_test_job_run(conn, job_id="dup-1")
    finally:
        await engine.dispose()
    assert count == 1
    assert row is not None
    assert (row["runs"], row["attempt"], row["result"]) == (2, 2, {"n": 2})


def _gaps_s(timestamps: list[str]) -> list[float]:
    from datetime import datetime

    times = [datetime.fromisoformat(value) for value in timestamps]
    return [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)]
