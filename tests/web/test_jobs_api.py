"""The HTTP API in-process: validation, enqueueing, job status, 404s."""

from __future__ import annotations

import httpx
import pytest

from areafetch.constants import TEST_QUEUE
from areafetch.queue import Queues


async def queue_total(queues: Queues) -> int:
    counts = await queues.get(TEST_QUEUE).getJobCounts("waiting", "delayed", "active", "completed", "failed")
    return sum(int(value) for value in counts.values())


async def test_post_test_job_enqueues_and_get_shows_it_waiting(
    api: httpx.AsyncClient, queues: Queues
) -> None:
    response = await api.post("/api/jobs/test", json={"message": "hi"})

    assert response.status_code == 202
    job_id = response.json()["job_id"]
    job = (await api.get(f"/api/jobs/{job_id}")).json()
    assert job["id"] == job_id
    assert job["name"] == "test"
    assert job["state"] == "waiting"
    assert job["attempts_made"] == 0
    assert set(job) >= {"id", "name", "state", "progress", "result", "failed_reason", "attempts_made"}


async def test_post_with_delay_is_delayed(api: httpx.AsyncClient) -> None:
    job_id = (await api.post("/api/jobs/test", json={"message": "hi", "delay_ms": 60000})).json()["job_id"]

    assert (await api.get(f"/api/jobs/{job_id}")).json()["state"] == "delayed"


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ({}, "message", "Field required"),
        ({"message": ""}, "message", "at least 1 character"),
        ({"message": "x" * 201}, "message", "at most 200 characters"),
        ({"message": "x", "delay_ms": -1}, "delay_ms", "greater than or equal to 0"),
        ({"message": "x", "delay_ms": 600_001}, "delay_ms", "less than or equal to 600000"),
        ({"message": "x", "fail": "perhaps"}, "fail", "valid boolean"),
        ({"message": "x", "cpu_ms": 10**9}, "cpu_ms", "less than or equal to 600000"),
        ({"message": "x", "surprise": 1}, "surprise", "Extra inputs are not permitted"),
        ([1, 2], "body", "valid dictionary"),
    ],
)
async def test_bad_body_is_422_naming_the_field_and_enqueues_nothing(
    api: httpx.AsyncClient, queues: Queues, body: object, field: str, problem: str
) -> None:
    response = await api.post("/api/jobs/test", json=body)

    assert response.status_code == 422
    errors = response.json()["detail"]
    assert any(
        field in [str(part) for part in error["loc"]] and problem in error["msg"] for error in errors
    ), errors
    assert await queue_total(queues) == 0


async def test_malformed_json_is_422_and_enqueues_nothing(api: httpx.AsyncClient, queues: Queues) -> None:
    response = await api.post(
        "/api/jobs/test", content=b'{"message": ', headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert await queue_total(queues) == 0


async def test_unknown_job_is_404(api: httpx.AsyncClient) -> None:
    response = await api.get("/api/jobs/does-not-exist")

    assert response.status_code == 404
    assert response.json() == {"detail": "no job with id 'does-not-exist'"}


async def test_job_id_with_odd_characters_is_422(api: httpx.AsyncClient) -> None:
    assert (await api.get("/api/jobs/a b")).status_code == 422
