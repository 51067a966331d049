"""The operator's console API: a job's detail with its own log, search with filters and pages, bulk
retry and clean of failed jobs, pause and resume, and counts per minute that outlive the worker."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx
from pydantic import SecretStr

from areafetch.config import Settings
from areafetch.constants import TEST_QUEUE
from tests.helpers import ProcessFactory, area_client, eventually, settings_env


async def add_test_job(client: httpx.AsyncClient, **body: Any) -> str:
    response = await client.post("/api/jobs/test", json=body)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


async def state_of(client: httpx.AsyncClient, job_id: str) -> str:
    state: str = (await client.get(f"/api/jobs/{job_id}")).json()["state"]
    return state


async def until_state(client: httpx.AsyncClient, job_id: str, state: str) -> None:
    async def reached() -> bool:
        return await state_of(client, job_id) == state

    await eventually(reached, timeout_s=60, what=f"job {job_id} {state}")


async def test_a_failed_job_shows_its_data_failure_stack_traces_log_and_timings(
    settings: Settings, processes: ProcessFactory
) -> None:
    twice = settings.model_copy(update={"job_attempts": 2})
    await processes.worker(settings_env(twice))
    async with area_client(twice) as client:
        job_id = await add_test_job(client, message="doomed", fail=True)
        await until_state(client, job_id, "failed")
        detail = (await client.get(f"/api/jobs/{job_id}/detail")).json()

    assert detail["queue"] == TEST_QUEUE
    assert detail["data"]["message"] == "doomed"
    assert detail["attempts_made"] == detail["max_attempts"] == 2
    assert "fail" in detail["failed_reason"]
    assert len(detail["stacktrace"]) == 2  # one per attempt
    assert all("Traceback" in trace for trace in detail["stacktrace"])
    assert detail["logs_total"] == len(detail["logs"]) == 1
    assert detail["logs"][0].endswith(f"attempt 2 of 2; the last: {detail['failed_reason']}")
    assert detail["ran_ms"] is not None
    assert detail["waited_ms"] is not None
    assert detail["processed_at"] <= detail["finished_at"]


async def test_search_filters_by_state_and_text_and_pages_without_repeats(api: httpx.AsyncClient) -> None:
    delayed = [await add_test_job(api, message=f"later {i}", delay_ms=600_000) for i in range(5)]
    waiting = await add_test_job(api, message="now")

    only_delayed = (
        await api.get(f"/api/queues/{TEST_QUEUE}/jobs", params={"state": "delayed", "limit": 2})
    ).json()
    seen = [job["id"] for job in only_delayed["jobs"]]
    while only_delayed["next_cursor"] is not None and len(seen) < 10:
        only_delayed = (
            await api.get(
                f"/api/queues/{TEST_QUEUE}/jobs",
                params={"state": "delayed", "limit": 2, "cursor": only_delayed["next_cursor"]},
            )
        ).json()
        seen += [job["id"] for job in only_delayed["jobs"]]
    by_id = (await api.get(f"/api/queues/{TEST_QUEUE}/jobs", params={"q": waiting[4:12].upper()})).json()
    by_name = (
        await api.get(f"/api/queues/{TEST_QUEUE}/jobs", params={"name": "nothing-of-that-name"})
    ).json()
    bad = await api.get("/api/queues/no-such-queue/jobs")

    assert sorted(seen) == sorted(delayed)  # every delayed job once, none other
    assert [job["id"] for job in by_id["jobs"]] == [waiting]
    assert by_name["jobs"] == []
    assert by_name["next_cursor"] is None
    assert bad.status_code == 422
    assert any(error["loc"] == ["path", "queue"] for error in bad.json()["detail"])


async def test_failed_jobs_are_retried_and_cleaned_in_bulk(
    settings: Settings, processes: ProcessFactory
) -> None:
    once = settings.model_copy(update={"job_attempts": 1})
    worker = await processes.worker(settings_env(once))
    async with area_client(once) as client:
        failed = [await add_test_job(client, message=f"bad {i}", fail=True) for i in range(3)]
        for job_id in failed:
            await until_state(client, job_id, "failed")
        retried = (await client.post(f"/api/queues/{TEST_QUEUE}/retry-failed")).json()

        async def ran_twice() -> bool:
            return all(len(worker.events("job.failed", job_id=job_id)) == 2 for job_id in failed)

        await eventually(ran_twice, timeout_s=60, what="each failed job run again")
        for job_id in failed:
            await until_state(client, job_id, "failed")
        cleaned = (await client.post(f"/api/queues/{TEST_QUEUE}/clean-failed")).json()
        overview = (await client.get("/api/queues")).json()

    assert retried == {"queue": TEST_QUEUE, "retried": 3, "paused": None, "removed": None}
    assert cleaned["removed"] == 3
    test_queue = next(q for q in overview["queues"] if q["name"] == TEST_QUEUE)
    assert test_queue["counts"]["failed"] == 0


async def test_a_paused_queue_gives_no_job_until_it_is_resumed(
    settings: Settings, processes: ProcessFactory
) -> None:
    await processes.worker(settings_env(settings))
    async with area_client(settings) as client:
        assert (await client.post(f"/api/queues/{TEST_QUEUE}/pause")).json()["paused"] is True
        job_id = await add_test_job(client, message="held")
        paused = next(
            q for q in (await client.get("/api/queues")).json()["queues"] if q["name"] == TEST_QUEUE
        )
        resumed_at = time.time()
        assert (await client.post(f"/api/queues/{TEST_QUEUE}/resume")).json()["paused"] is False
        await until_state(client, job_id, "completed")
        detail = (await client.get(f"/api/jobs/{job_id}/detail")).json()

    assert paused["paused"] is True
    assert paused["counts"]["active"] == paused["counts"]["completed"] == 0
    # Taken before the resume was asked for: a job a paused queue had handed out would have started earlier.
    assert datetime.fromisoformat(detail["processed_at"]).timestamp() >= resumed_at


async def test_counts_per_minute_outlive_the_worker(settings: Settings, processes: ProcessFactory) -> None:
    worker = await processes.worker(settings_env(settings))
    async with area_client(settings) as client:
        done = [await add_test_job(client, message=f"m{i}") for i in range(4)]
        for job_id in done:
            await until_state(client, job_id, "completed")
        worker.signal()
        await worker.wait_exit(timeout_s=30)  # it flushes what it counted on the way out
        history = (await client.get("/api/queues/history", params={"minutes": 10})).json()

    assert len(history["minutes"]) == 10
    assert sum(history["series"][f"jobs:{TEST_QUEUE}:completed"]) == 4


async def test_every_console_action_needs_a_token_when_tokens_are_set(settings: Settings) -> None:
    secured = settings.model_copy(update={"api_tokens": SecretStr("console-token")})
    async with area_client(secured) as client:
        for action in ("pause", "resume", "retry-failed", "clean-failed"):
            assert (await client.post(f"/api/queues/{TEST_QUEUE}/{action}")).status_code == 401, action
        allowed = await client.post(
            f"/api/queues/{TEST_QUEUE}/pause", headers={"authorization": "Bearer console-token"}
        )
        assert allowed.status_code == 200
        await client.post(
            f"/api/queues/{TEST_QUEUE}/resume", headers={"authorization": "Bearer console-token"}
        )
