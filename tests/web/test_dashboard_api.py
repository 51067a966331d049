"""GET /api/queues, job retry/cancel, the area event stream and the estimate endpoint."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest

from areafetch.config import Settings
from areafetch.constants import AREAS_QUEUE, TEST_QUEUE
from areafetch.db import areas as area_queries
from areafetch.db import create_engine
from areafetch.queue import Queues
from tests.web.area_bodies import SQUARE, body, queued, stored_areas


def sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event, data) of every event in a text/event-stream body."""
    events = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and line[0] != ":")
        if "data" in fields:
            events.append((fields.get("event", "message"), json.loads(fields["data"])))
    return events


async def test_queues_counts_limiters_and_workers(api: httpx.AsyncClient) -> None:
    for message in ("a", "b"):
        assert (await api.post("/api/jobs/test", json={"message": message})).status_code == 202
    await api.post("/api/jobs/test", json={"message": "later", "delay_ms": 60_000})

    response = await api.get("/api/queues")

    assert response.status_code == 200, response.text
    data = response.json()
    by_name = {queue["name"]: queue for queue in data["queues"]}
    assert set(by_name) == {TEST_QUEUE, AREAS_QUEUE}
    assert by_name[TEST_QUEUE]["counts"]["waiting"] == 2
    assert by_name[TEST_QUEUE]["counts"]["delayed"] == 1
    assert by_name[AREAS_QUEUE]["counts"]["waiting"] == 0
    recent = by_name[TEST_QUEUE]["recent"]
    assert len(recent) == 3
    assert {job["state"] for job in recent} == {"waiting", "delayed"}
    assert all(job["attempts"] == 0 and job["duration_ms"] is None for job in recent)
    assert [limiter["name"] for limiter in data["limiters"]] == ["overpass", "google_places"]
    assert data["limiters"][0]["max_in_flight"] >= 1
    assert data["workers"] == []  # no worker runs in this test


async def test_cancel_and_retry_answer_404_409_202(api: httpx.AsyncClient, queues: Queues) -> None:
    unknown = uuid.uuid4().hex
    assert (await api.post(f"/api/jobs/{unknown}/retry")).status_code == 404
    assert (await api.post(f"/api/jobs/{unknown}/cancel")).status_code == 404

    job_id = (await api.post("/api/jobs/test", json={"message": "x", "delay_ms": 60_000})).json()["job_id"]
    conflict = await api.post(f"/api/jobs/{job_id}/retry")
    assert conflict.status_code == 409
    assert "only a failed job" in conflict.json()["detail"]

    cancelled = await api.post(f"/api/jobs/{job_id}/cancel")
    assert cancelled.status_code == 202, cancelled.text
    assert cancelled.json() == {"job_id": job_id, "queue": TEST_QUEUE, "state": "removed"}
    assert (await api.get(f"/api/jobs/{job_id}")).status_code == 404


async def test_retry_moves_a_failed_job_to_waiting_and_cancel_refuses_finished(
    api: httpx.AsyncClient, queues: Queues
) -> None:
    job_id = (await api.post("/api/jobs/test", json={"message": "x"})).json()["job_id"]
    queue = queues.get(TEST_QUEUE)
    # Fail it as a worker would, without running one: move it to the failed set.
    await queue.client.lrem(queue.toKey("wait"), 0, job_id)
    await queue.client.zadd(queue.toKey("failed"), {job_id: 1})
    await queue.client.hset(queue.toKey(job_id), mapping={"failedReason": "boom", "atm": 3, "ats": 3})

    assert (await api.post(f"/api/jobs/{job_id}/cancel")).status_code == 409
    retried = await api.post(f"/api/jobs/{job_id}/retry")

    assert retried.status_code == 202, retried.text
    assert retried.json()["state"] == "waiting"
    job = (await api.get(f"/api/jobs/{job_id}")).json()
    assert job["state"] == "waiting"
    assert job["attempts_made"] == 0


async def test_events_stream_progress_then_done(api: httpx.AsyncClient, settings: Settings) -> None:
    area_id = (await api.post("/api/areas", json=body())).json()["area_id"]
    stream = asyncio.create_task(api.get(f"/api/areas/{area_id}/events"))
    await asyncio.sleep(0.8)
    assert not stream.done()
    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            await area_queries.fail_area(conn, area_id=uuid.UUID(area_id), reason="stopped by the test")
    finally:
        await engine.dispose()

    response = await asyncio.wait_for(stream, timeout=10)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert [name for name, _ in events] == ["progress", "progress", "done"]
    assert events[0][1]["state"] == "queued"
    assert events[1][1] == {
        "state": "failed",
        "progress": events[0][1]["progress"],
        "failed_reason": "stopped by the test",
    }
    assert events[2][1]["id"] == area_id
    assert events[2][1]["state"] == "failed"


async def test_events_of_an_unknown_area_is_404(api: httpx.AsyncClient) -> None:
    assert (await api.get(f"/api/areas/{uuid.uuid4()}/events")).status_code == 404


async def test_estimate_counts_tiles_and_calls_and_stores_nothing(
    api: httpx.AsyncClient, settings: Settings, queues: Queues
) -> None:
    areas_before, jobs_before = await stored_areas(settings), await queued(queues)

    response = await api.post("/api/areas/estimate", json=body())

    assert response.status_code == 200, response.text
    estimate = response.json()
    assert 0.25 < estimate["area_km2"] < 0.35  # 0.01 deg x 0.005 deg at 60 N: about 0.31 km2
    assert estimate["tiles"] >= 1
    assert estimate["upstream_calls"] == estimate["tiles"]
    (overpass,) = estimate["sources"]
    assert overpass["source"] == "overpass"
    assert overpass["upstream_calls"] == estimate["tiles"]
    assert 0 < overpass["requests_left_today"] <= 10_000  # limiter state is shared by every test
    assert overpass["fits_budget"] is True
    assert estimate["fits_per_job_cap"] is True
    assert estimate["accepted"] is True
    assert estimate["reasons"] == []
    assert (await stored_areas(settings), await queued(queues)) == (areas_before, jobs_before)


@pytest.mark.parametrize("cap", [1])
async def test_estimate_says_when_the_per_job_cap_is_exceeded(settings: Settings, cap: int) -> None:
    from tests.helpers import area_client

    capped = settings.model_copy(update={"max_upstream_calls_per_job": cap, "overpass_max_tile_km2": 0.01})
    async with area_client(capped) as client:
        estimate = (await client.post("/api/areas/estimate", json=body())).json()
    assert estimate["upstream_calls"] > cap
    assert estimate["fits_per_job_cap"] is False
    assert estimate["accepted"] is False
    assert "per-job cap is 1" in estimate["reasons"][0]


async def test_estimate_of_a_bad_area_is_422_naming_the_field(api: httpx.AsyncClient) -> None:
    square = json.loads(json.dumps(SQUARE))
    square["coordinates"][0][2] = [200, 60.175]
    response = await api.post("/api/areas/estimate", json=body(area=square))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "area"]


async def test_openapi_describes_the_new_routes(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    events = spec["paths"]["/api/areas/{area_id}/events"]["get"]["responses"]["200"]["content"]
    assert "text/event-stream" in events
    assert "AreaProgressEvent" in spec["components"]["schemas"]
    assert spec["paths"]["/api/queues"]["get"]["responses"]["200"]["content"]["application/json"]
    assert "AreaEstimate" in spec["components"]["schemas"]
    assert set(spec["paths"]["/api/jobs/{job_id}/retry"]["post"]["responses"]) >= {"202", "404", "409"}
