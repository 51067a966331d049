"""The reconciler settles a running area whose flow's finalise job failed (BullMQ fails a parent when
a child fails, and its stall check fails a fetch job that had already stored its tile)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from bullmq import UnrecoverableError, Worker
from sqlalchemy.ext.asyncio import AsyncEngine

from areafetch.areas.job_ids import finalise_job_id, settle_job_id
from areafetch.config import Settings
from areafetch.constants import AREAS_QUEUE
from areafetch.db import areas as area_queries
from areafetch.db import create_engine
from areafetch.jobs import FINALISE_AREA_SPEC, AreaRef
from areafetch.processors.reconcile import reconcile_areas
from areafetch.queue import Queues, enqueue, find_job
from areafetch.redis import create_client
from tests.helpers import eventually

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[24.9, 60.1], [25.0, 60.1], [25.0, 60.2], [24.9, 60.2], [24.9, 60.1]]],
}


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.database_url)
    yield engine
    await engine.dispose()


async def running_area(engine: AsyncEngine, *, tiles_done: int, tiles: int) -> uuid.UUID:
    area_id = uuid.uuid4()
    async with engine.begin() as conn:
        await area_queries.create_area(
            conn,
            area_id=area_id,
            name="settle",
            geometry=SQUARE,
            bbox=(24.9, 60.1, 25.0, 60.2),
            area_km2=61.9,
            sources=["overpass"],
            categories=["cafe"],
            job_id=f"{area_id}.plan",
        )
        await area_queries.start_planning(conn, area_id=area_id)
        units = [("overpass", f"c{n}", {"bbox": [24.9, 60.1, 25.0, 60.2]}) for n in range(tiles)]
        await area_queries.store_plan(conn, area_id=area_id, units=units)
        for n in range(tiles_done):
            await area_queries.complete_tile(
                conn, area_id=area_id, source="overpass", tile_id=f"c{n}", places_found=0, upstream_calls=1
            )
    return area_id


async def fail_finalise(settings: Settings, queues: Queues, area_id: uuid.UUID) -> None:
    """The flow's finalise job, failed as BullMQ fails a parent whose child failed."""

    async def refuse(job: Any, token: str) -> None:
        raise UnrecoverableError("child bull:areas:x.overpass.c1 failed")

    await enqueue(queues, FINALISE_AREA_SPEC, AreaRef(area_id=area_id), job_id=finalise_job_id(area_id))
    connection = create_client(settings.redis_url, socket_timeout_s=settings.redis_socket_timeout_s)
    worker = Worker(AREAS_QUEUE, refuse, {"connection": connection, "prefix": settings.queue_prefix})
    try:

        async def failed() -> bool:
            job = await find_job(queues, finalise_job_id(area_id))
            return job is not None and job.state == "failed"

        await eventually(failed, timeout_s=20, what="the finalise job to fail")
    finally:
        await worker.close()
        await connection.aclose()


async def test_every_tile_stored_a_separate_finalise_completes_the_area(
    settings: Settings, queues: Queues, engine: AsyncEngine
) -> None:
    area_id = await running_area(engine, tiles_done=2, tiles=2)
    await fail_finalise(settings, queues, area_id)

    done = await reconcile_areas(engine=engine, queues=queues, idle_for_s=0)

    assert area_id in done.settled
    settle = await find_job(queues, settle_job_id(area_id))
    assert settle is not None
    assert settle.name == FINALISE_AREA_SPEC.name
    again = await reconcile_areas(engine=engine, queues=queues, idle_for_s=0)  # idempotent
    assert area_id in again.settled
    async with engine.connect() as conn:
        area = await area_queries.get_area(conn, area_id=area_id)
    assert area is not None
    assert area["state"] == "running"  # until the settle job runs


async def test_a_tile_missing_fails_the_area_with_the_flow_s_reason(
    settings: Settings, queues: Queues, engine: AsyncEngine
) -> None:
    area_id = await running_area(engine, tiles_done=1, tiles=2)
    await fail_finalise(settings, queues, area_id)

    await reconcile_areas(engine=engine, queues=queues, idle_for_s=0)

    async with engine.connect() as conn:
        area = await area_queries.get_area(conn, area_id=area_id)
    assert area is not None
    assert area["state"] == "failed"
    assert "a tile could not be fetched: child bull:areas:x.overpass.c1 failed" in area["failed_reason"]
    assert await find_job(queues, settle_job_id(area_id)) is None
