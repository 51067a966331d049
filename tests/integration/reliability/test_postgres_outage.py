"""Fault 3: PostgreSQL stopped for 20 s while tiles are being written. The fetch jobs fail, retry with
backoff and the area completes once PostgreSQL is back; no tile is half written."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
import shapely
from sqlalchemy import func, select

from areafetch.config import Settings
from areafetch.db import create_engine, migrate
from areafetch.db.tables import tiles
from tests.fakes.expected import expected_osm_keys
from tests.fakes.overpass import OverpassFake
from tests.helpers import PostgresServer, ProcessFactory, area_client, eventually, settings_env
from tests.integration.reliability.faults import record_fault
from tests.pipeline import (
    CATEGORIES,
    HELSINKI_POLYGON,
    OSM_FILTERS,
    finished_area,
    stored_ids,
    submit,
    with_upstreams,
)

pytestmark = pytest.mark.reliability

OUTAGE_S = 20.0


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
        migrate(server.url)
        yield server
    finally:
        server.remove()


@pytest.mark.timeout(180)
async def test_postgres_down_for_20s_mid_area_then_the_area_completes_nothing_half_written(
    area_settings: Settings,
    own_postgres: PostgresServer,
    processes: ProcessFactory,
    overpass_fake: OverpassFake,
) -> None:
    settings = with_upstreams(area_settings, overpass=overpass_fake).model_copy(
        update={
            "database_url": own_postgres.url,
            "job_attempts": 10,  # backoff 1, 2, 4, 8, 16 s ...: 31 s before the 6th attempt
            "job_backoff_ms": 1000,
        }
    )
    workers = await asyncio.gather(*(processes.worker(settings_env(settings)) for _ in range(2)))
    engine = create_engine(settings.database_url)
    try:
        async with area_client(settings) as client:
            area_id = await submit(client, area=HELSINKI_POLYGON, sources=["overpass"], categories=CATEGORIES)

            async def some_tiles_done() -> bool:
                async with engine.connect() as conn:
                    done = await conn.scalar(
                        select(func.count())
                        .select_from(tiles)
                        .where(tiles.c.area_id == uuid.UUID(area_id), tiles.c.state == "done")
                    )
                return bool(done and done >= 3)

            await eventually(some_tiles_done, timeout_s=60, what="three tiles written")
            await engine.dispose()
            await asyncio.to_thread(own_postgres.stop)
            stopped = time.monotonic()
            await asyncio.sleep(OUTAGE_S)  # the scenario itself: PostgreSQL is away for 20 s
            await asyncio.to_thread(own_postgres.start)
            outage_s = time.monotonic() - stopped
            area = await finished_area(client, area_id, timeout_s=90)

        assert area["state"] == "completed", area["failed_reason"]
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(tiles.c.state, tiles.c.places_found).where(tiles.c.area_id == uuid.UUID(area_id))
                )
            ).all()
    finally:
        await engine.dispose()

    failed = [record for worker in workers for record in worker.events("job.failed", name="fetch")]
    assert failed, "no fetch job met the outage"
    assert all(record["will_retry"] for record in failed)
    expected = expected_osm_keys(shapely.geometry.shape(HELSINKI_POLYGON), OSM_FILTERS)
    stored = await stored_ids(settings, area_id, "overpass")
    duplicates = sum(count - 1 for count in Counter(stored).values())
    assert duplicates == 0
    assert sorted(stored) == sorted(expected)
    assert {state for state, _ in rows} == {"done"}
    # Every done tile's places were stored with it (a place on a shared tile edge counts in both tiles).
    assert sum(found for _, found in rows) >= len(stored)
    print(f"\noutage {outage_s:.1f}s; {len(failed)} fetch attempts failed during it and were retried")
    record_fault(
        f"PostgreSQL stopped {OUTAGE_S:.0f} s mid-area", injected=1, jobs_lost=0, duplicates=duplicates
    )
