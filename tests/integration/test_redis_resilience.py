"""The socket-timeout trap and Redis restarts: the worker keeps working through both."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from bullmq import QueueEvents

from areafetch.config import Settings
from areafetch.constants import TEST_QUEUE
from areafetch.jobs import TestJobPayload
from areafetch.queue import Queues, enqueue_test_job
from areafetch.redis import connection_options
from tests.helpers import ProcessFactory, RedisServer, eventually, finished, settings_env

pytestmark = pytest.mark.slow


@pytest.mark.timeout(120)
async def test_delayed_job_runs_within_one_second_of_its_due_time(
    env: dict[str, str], processes: ProcessFactory, queues: Queues
) -> None:
    await processes.worker(env)
    job_id = await enqueue_test_job(queues, TestJobPayload(message="later"), delay_ms=8000)

    job = await finished(queues, job_id, timeout_s=30)

    assert job.state == "completed"
    assert job.processed_at is not None
    due_ms = job.created_at.timestamp() * 1000 + 8000
    lateness_ms = job.processed_at.timestamp() * 1000 - due_ms
    assert 0 <= lateness_ms <= 1000, lateness_ms


@pytest.mark.timeout(180)
async def test_job_added_after_60s_idle_starts_within_one_second_and_events_still_flow(
    settings: Settings, env: dict[str, str], processes: ProcessFactory, queues: Queues
) -> None:
    worker = await processes.worker(env)
    events = QueueEvents(
        TEST_QUEUE,
        {
            "prefix": settings.queue_prefix,
            "connection": connection_options(
                settings.redis_url, socket_timeout_s=settings.redis_socket_timeout_s
            ),
        },
    )
    completed: asyncio.Queue[str] = asyncio.Queue()
    events.on("completed", lambda event, *_: completed.put_nowait(event["jobId"]))
    errors: list[object] = []
    events.on("error", lambda err, *_: errors.append(err))
    try:
        await asyncio.sleep(60)  # the scenario itself: nothing happens for a minute

        job_id = await enqueue_test_job(queues, TestJobPayload(message="wake up"))
        job = await finished(queues, job_id)

        assert job.processed_at is not None
        assert (job.processed_at - job.created_at).total_seconds() <= 1.0
        assert await asyncio.wait_for(completed.get(), timeout=5) == job_id
        assert errors == []
        assert worker.events("bullmq.error") == []
    finally:
        await events.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.mark.timeout(120)
async def test_worker_survives_redis_restart_and_loses_no_job(
    settings: Settings, own_redis: RedisServer, processes: ProcessFactory
) -> None:
    local = settings.model_copy(update={"redis_url": own_redis.url})
    worker = await processes.worker(settings_env(local))
    producer = Queues(local)
    try:
        before = await enqueue_test_job(producer, TestJobPayload(message="before"))
        assert (await finished(producer, before)).state == "completed"
        pending = await enqueue_test_job(producer, TestJobPayload(message="across"), delay_ms=3000)
        await producer.close()

        own_redis.stop()
        own_redis.start()

        producer = Queues(local)
        after = await enqueue_test_job(producer, TestJobPayload(message="after"))
        assert (await finished(producer, after, timeout_s=60)).state == "completed"
        assert (await finished(producer, pending, timeout_s=30)).state == "completed"
        assert worker.proc.poll() is None

        async def completed_both() -> bool:
            return bool(
                worker.events("job.completed", job_id=after)
                and worker.events("job.completed", job_id=pending)
            )

        await eventually(completed_both, timeout_s=5, what="completion logs")
    finally:
        await producer.close()
