"""Fault: the web process dies between storing an area and queueing its plan job. The area is left
`queued` with no job; a worker's reconciler finds it and queues the job, and the area completes with
exactly the places of an uninterrupted run. An area whose jobs are gone while it runs is failed with
the reason, never left running."""

from __future__ import annotations

import uuid
from collections import Counter

import httpx
import pytest
import shapely
from sqlalchemy import update

from areafetch.config import Settings
from areafetch.db import create_engine
from areafetch.db.tables import areas
from areafetch.processors.reconcile import LOST_JOBS_REASON
from areafetch.queue import Queues, find_job
from tests.fakes.expected import expected_osm_keys
from tests.fakes.overpass import OverpassFake
from tests.helpers import ProcessFactory, area_client, eventually, settings_env
from tests.integration.reliability.faults import record_fault
from tests.pipeline import (
    CATEGORIES,
    HELSINKI_POLYGON,
    OSM_FILTERS,
    finished_area,
    stored_ids,
    with_upstreams,
)

pytestmark = pytest.mark.reliability

RECONCILE = {"reconcile_interval_s": 0.5, "reconcile_after_s": 1.0}


@pytest.mark.timeout(150)
async def test_web_killed_between_area_and_job_the_reconciler_queues_it_and_the_area_completes(
    area_settings: Settings, processes: ProcessFactory, overpass_fake: OverpassFake
) -> None:
    settings = with_upstreams(area_settings, overpass=overpass_fake).model_copy(update=RECONCILE)
    web, base_url = await processes.web(
        settings_env(settings.model_copy(update={"test_fault": "exit_after_area_commit"}))
    )
    body = {"name": "crash", "area": HELSINKI_POLYGON, "sources": ["overpass"], "categories": CATEGORIES}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        with pytest.raises(httpx.TransportError):
            await client.post("/api/areas", json=body)
    assert await web.wait_exit(timeout_s=10) == 70

    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(areas.select().where(areas.c.name == "crash"))).all()
    finally:
        await engine.dispose()
    assert [row.state for row in rows] == ["queued"]  # stored, and nothing queued it
    area_id = str(rows[0].id)
    queues = Queues(settings)
    try:
        assert await find_job(queues, f"{area_id}.plan") is None
    finally:
        await queues.close()

    worker = await processes.worker(settings_env(settings))
    async with area_client(settings) as api:
        area = await finished_area(api, area_id, timeout_s=90)
    assert area["state"] == "completed", area["failed_reason"]
    assert worker.events("area.requeued", area_id=area_id)
    stored = await stored_ids(settings, area_id, "overpass")
    duplicates = sum(count - 1 for count in Counter(stored).values())
    assert duplicates == 0
    assert sorted(stored) == sorted(expected_osm_keys(shapely.geometry.shape(HELSINKI_POLYGON), OSM_FILTERS))
    record_fault("web killed between area and job", injected=1, jobs_lost=0, duplicates=duplicates)


@pytest.mark.timeout(60)
async def test_a_running_area_whose_jobs_are_gone_is_failed_with_the_reason(
    area_settings: Settings, processes: ProcessFactory
) -> None:
    settings = area_settings.model_copy(update=RECONCILE)
    area_id = uuid.uuid4()
    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                areas.insert().values(
                    id=area_id,
                    name="orphan",
                    geometry=HELSINKI_POLYGON,
                    bbox=[0, 0, 1, 1],
                    area_km2=1.0,
                    sources=["overpass"],
                    categories=CATEGORIES,
                    state="running",
                    job_id=f"{area_id}.plan",
                )
            )
            await conn.execute(
                update(areas).where(areas.c.id == area_id).values(started_at=areas.c.created_at)
            )
    finally:
        await engine.dispose()
    await processes.worker(settings_env(settings))
    async with area_client(settings) as api:

        async def failed() -> dict[str, object] | None:
            area: dict[str, object] = (await api.get(f"/api/areas/{area_id}")).json()
            return area if area["state"] == "failed" else None

        area = await eventually(failed, timeout_s=30, what="the orphaned area to be failed")
    assert area["failed_reason"] == LOST_JOBS_REASON
