"""Google's retention end to end: every areas worker upserts one daily scheduler; the job deletes
Google content past AREAFETCH_GOOGLE_RETENTION_DAYS (place ids stay); exports then carry null
geometries; the area page credits Google and, in `list` mode, keeps Google places off its map."""

from __future__ import annotations

import csv
import io
import uuid

from sqlalchemy import func, select, update

from areafetch.config import Settings
from areafetch.constants import AREAS_QUEUE
from areafetch.db import create_engine
from areafetch.db.tables import area_places, places
from areafetch.jobs import RETENTION_SPEC, RetentionPayload
from areafetch.queue import Queues, enqueue
from areafetch.queue.schedules import RETENTION_SCHEDULER_ID
from tests.fakes.google_places import GooglePlacesFake
from tests.helpers import ProcessFactory, area_client, finished, settings_env
from tests.pipeline import HELSINKI_POLYGON, finished_area, submit, with_upstreams


async def test_old_google_content_expires_by_the_daily_job_and_the_page_credits_google(
    area_settings: Settings, processes: ProcessFactory, google_places_fake: GooglePlacesFake, queues: Queues
) -> None:
    settings = with_upstreams(area_settings, google=google_places_fake)
    env = settings_env(settings)
    for _ in range(2):
        worker = await processes.worker(env)
        await worker.wait_for_event("worker.started")
    schedulers = await queues.get(AREAS_QUEUE).getJobSchedulers(0, -1, True)
    assert [s.get("key") for s in schedulers].count(RETENTION_SCHEDULER_ID) == 1
    assert any(s.get("pattern") == "17 3 * * *" for s in schedulers)

    async with area_client(settings) as client:
        area_id = await submit(client, area=HELSINKI_POLYGON, sources=["google_places"], categories=["cafe"])
        area = await finished_area(client, area_id)
        assert area["state"] == "completed"
        total = area["summary"]["places_total"]
        assert total > 0
        await _age_places(settings, area_id, days=31)

        job_id = await enqueue(queues, RETENTION_SPEC, RetentionPayload(), job_id=f"retention-{uuid.uuid4()}")
        job = await finished(queues, job_id, timeout_s=30)
        assert job.state == "completed"
        assert job.result["places_expired"] >= total

        features = (await client.get(f"/api/areas/{area_id}/places")).json()["features"]
        assert len(features) == total
        assert all(f["geometry"] is None and f["properties"]["expired_at"] for f in features)
        assert all(f["properties"]["name"] is None and f["properties"]["source_id"] for f in features)
        rows = list(
            csv.DictReader(io.StringIO((await client.get(f"/api/areas/{area_id}/places?format=csv")).text))
        )
        assert all(row["lon"] == "" and row["expired_at"] for row in rows)

        page = (await client.get(f"/areas/{area_id}")).text
        assert 'id="google-attribution"' in page
        assert "Google Maps" in page
        assert 'data-google-display="map"' in page
    async with area_client(settings.model_copy(update={"google_display": "list"})) as client:
        page = (await client.get(f"/areas/{area_id}")).text
        assert 'data-google-display="list"' in page
        assert "not drawn on this map" in page


async def _age_places(settings: Settings, area_id: str, *, days: int) -> None:
    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            linked = select(area_places.c.place_id).where(area_places.c.area_id == uuid.UUID(area_id))
            await conn.execute(
                update(places)
                .where(places.c.id.in_(linked.scalar_subquery()))
                .values(fetched_at=func.now() - func.make_interval(0, 0, 0, days))
            )
    finally:
        await engine.dispose()
