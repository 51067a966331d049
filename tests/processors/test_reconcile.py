"""The reconciler moves on an area whose jobs ended without ending it: a finalise of its own when the
flow's finalise failed, and the failed job's reason when nothing is left to run."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from bullmq import UnrecoverableError, Worker
from sqlalchemy.ext.asyncio import AsyncEngine

from areafetch.areas.job_ids import finalise_job_id, plan_job_id, settle_job_id
from areafetch.config import Settings
from areafetch.constants import AREAS_QUEUE
from areafetch.db import areas as area_queries
from areafetch.db import create_engine
from areafetch.db.tables import areas
from areafetch.jobs import FINALISE_AREA_SPEC, PLAN_AREA_SPEC, AreaRef
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


async def fail_job(settings: Settings, queues: Queues, spec: Any, area_id: uuid.UUID, job_id: str) -> None:
    """Add the job and let a worker fail it, as BullMQ's stall check fails a job whose worker died."""

    async def refuse(job: Any, token: str) -> None:
        raise UnrecoverableError("job stalled more than allowable limit")

    await enqueue(queues, spec, AreaRef(area_id=area_id), job_id=job_id)
    connection = create_client(settings.redis_url, socket_timeout_s=settings.redis_socket_timeout_s)
    worker = Worker(AREAS_QUEUE, refuse, {"connection": connection, "prefix": settings.queue_prefix})
    try:

        async def failed() -> bool:
            job = await find_job(queues, job_id)
            return job is not None and job.state == "failed"

        await eventually(failed, timeout_s=20, what=f"{job_id} to fail")
    finally:
        await worker.close()
        await connection.aclose()


async def area_row(engine: AsyncEngine, area_id: uuid.UUID) -> dict[str, Any]:
    async with engine.connect() as conn:
        area = await area_queries.get_area(conn, area_id=area_id)
    assert area is not None
    return area


async def test_a_failed_finalise_gets_a_finalise_of_its_own_once(
    settings: Settings, queues: Queues, engine: AsyncEngine
) -> None:
    area_id = await running_area(engine, tiles_done=1, tiles=2)
    await fail_job(settings, queues, FINALISE_AREA_SPEC, area_id, finalise_job_id(area_id))

    done = await reconcile_areas(engine=engine, queues=queues, idle_for_s=0)

    assert area_id in done.settled
    settle = await find_job(queues, settle_job_id(area_id))
    assert settle is not None
    assert settle.name == FINALISE_AREA_SPEC.name
    again = await reconcile_areas(engine=engine, queues=queues, idle_for_s=0)
    assert area_id not in again.settled + again.failed  # the settle job will end it
    assert (await area_row(engine, area_id))["state"] == "running"  # until the settle job runs


async def test_a_failed_settle_fails_the_area_with_its_reason(
    settings: Settings, queues: Queues, engine: AsyncEngine
) -> None:
    area_id = await running_area(engine, tiles_done=1, tiles=2)
    await fail_job(settings, queues, FINALISE_AREA_SPEC, area_id, finalise_job_id(area_id))
    await fail_job(settings, queues, FINALISE_AREA_SPEC, area_id, settle_job_id(area_id))

    done = await reconcile_areas(engine=engine, queues=queues, idle_for_s=0)

    assert area_id in done.failed
    area = await area_row(engine, area_id)
    assert area["state"] == "failed"
    assert area["failed_reason"] == "job stalled more than allowable limit"
    async with engine.connect() as conn:  # the tile left unfetched is failed too: a retry takes it
        assert await area_queries.failed_tiles(conn, area_id=area_id) == [
            ("overpass", "c1", "job stalled more than allowable limit")
        ]


async def test_an_area_whose_plan_job_failed_without_its_handler_fails_with_the_reason(
    settings: Settings, queues: Queues, engine: AsyncEngine
) -> None:
    area_id = await running_area(engine, tiles_done=0, tiles=0)
    async with engine.begin() as conn:  # still planning: the plan job's worker died
        await conn.execute(areas.update().where(areas.c.id == area_id).values(state="planning"))
    await fail_job(settings, queues, PLAN_AREA_SPEC, area_id, plan_job_id(area_id))

    done = await reconcile_areas(engine=engine, queues=queues, idle_for_s=0)

    assert area_id in done.failed
    assert (await area_row(engine, area_id))["failed_reason"] == "job stalled more than allowable limit"
