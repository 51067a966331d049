"""Fault 2: Redis (its own server, AOF with appendfsync always, as in docker-compose) restarted while
area jobs are waiting and active. The web app process and the workers reconnect by themselves, a
QueueEvents listener and the SSE endpoint keep delivering, and every area completes."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import pytest
from bullmq import QueueEvents

from areafetch.config import Settings
from areafetch.constants import AREAS_QUEUE
from areafetch.redis import connection_options
from tests.fakes.overpass import OverpassFake
from tests.helpers import ProcessFactory, RedisServer, eventually, settings_env
from tests.integration.reliability.faults import record_fault
from tests.pipeline import HELSINKI_POLYGON, stored_ids, with_upstreams

pytestmark = pytest.mark.reliability

AREAS = 3


async def _sse_events(base_url: str, area_id: str) -> list[str]:
    """The event names of one area's SSE stream, read until `done`."""
    names: list[str] = []
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(10, read=60)) as client,
        client.stream("GET", f"{base_url}/api/areas/{area_id}/events") as response,
    ):
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                names.append(line.split(":", 1)[1].strip())
                if names[-1] == "done":
                    break
    return names


@pytest.mark.timeout(180)
async def test_redis_restart_with_jobs_waiting_and_active_loses_nothing(
    area_settings: Settings, tmp_path: Path, processes: ProcessFactory, overpass_fake: OverpassFake
) -> None:
    redis_server = RedisServer(tmp_path)
    redis_server.start()
    events: QueueEvents | None = None
    try:
        settings = with_upstreams(area_settings, overpass=overpass_fake).model_copy(
            update={"redis_url": redis_server.url, "overpass_max_tile_km2": 0.5}
        )
        env = settings_env(settings)
        workers = await asyncio.gather(*(processes.worker(env) for _ in range(2)))
        _, base_url = await processes.web(env)
        events = QueueEvents(
            AREAS_QUEUE,
            {
                "prefix": settings.queue_prefix,
                "connection": connection_options(
                    settings.redis_url, socket_timeout_s=settings.redis_socket_timeout_s
                ),
            },
        )
        completed: list[str] = []
        events.on("completed", lambda event, *_: completed.append(str(event["jobId"])))

        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            area_ids: list[str] = []
            for n in range(AREAS):
                response = await client.post(
                    "/api/areas",
                    json={
                        "name": f"r{n}",
                        "area": HELSINKI_POLYGON,
                        "sources": ["overpass"],
                        "categories": ["cafe"],
                    },
                )
                assert response.status_code == 202, response.text
                area_ids.append(response.json()["area_id"])
            sse = asyncio.ensure_future(_sse_events(base_url, area_ids[-1]))

            async def active_and_waiting() -> bool:
                overview = (await client.get("/api/queues")).json()
                (counts,) = [queue["counts"] for queue in overview["queues"] if queue["name"] == AREAS_QUEUE]
                waiting = counts.get("waiting", 0) + counts.get("wait", 0)
                return bool(counts.get("active", 0) and waiting and completed)

            await eventually(active_and_waiting, timeout_s=60, what="jobs active and waiting, some done")
            before_restart = len(completed)
            redis_server.stop()
            redis_server.start()

            async def all_done() -> bool:
                states = []
                for area_id in area_ids:
                    response = await client.get(f"/api/areas/{area_id}")
                    if response.status_code != 200:
                        return False
                    states.append(response.json()["state"])
                assert "failed" not in states, states
                return all(state == "completed" for state in states)

            await eventually(all_done, timeout_s=120, interval_s=0.25, what="every area completed")
            fresh = await client.post(
                "/api/areas",
                json={
                    "name": "after",
                    "bbox": [24.940, 60.168, 24.942, 60.169],
                    "sources": ["overpass"],
                    "categories": ["cafe"],
                },
            )
            assert fresh.status_code == 202, fresh.text  # the web app writes to the restarted Redis
            sse_names = await asyncio.wait_for(sse, timeout=30)

        async def finalised_events() -> bool:
            return all(f"{area_id}.finalise" in completed for area_id in area_ids)

        await eventually(finalised_events, timeout_s=30, what="QueueEvents 'completed' after the restart")
    finally:
        if events is not None:
            await events.close()
        redis_server.stop()

    assert len(completed) > before_restart  # the listener was re-created and kept delivering
    assert sse_names[-1] == "done"
    for worker in workers:
        assert worker.proc.poll() is None  # reconnected, not crashed
    duplicates = 0
    for area_id in area_ids:
        stored = await stored_ids(settings, area_id, "overpass")
        assert stored
        duplicates += sum(count - 1 for count in Counter(stored).values())
    assert duplicates == 0
    record_fault(
        "Redis restarted (AOF) with jobs waiting and active", injected=1, jobs_lost=0, duplicates=duplicates
    )
