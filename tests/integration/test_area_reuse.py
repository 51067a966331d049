"""Reuse before fetching: with AREAFETCH_REUSE_MAX_AGE_S set, a refresh and an area inside an earlier
one are served from the database (0 calls at the fakes), and give the places a fetch would."""

from __future__ import annotations

from typing import Any

import shapely

from areafetch.config import Settings
from tests.fakes.google_places import GooglePlacesFake
from tests.fakes.overpass import OverpassFake
from tests.helpers import ProcessFactory, area_client, settings_env
from tests.pipeline import HELSINKI_POLYGON, finished_area, stored_ids, submit, with_upstreams

INNER = [24.940, 60.168, 24.948, 60.174]  # well inside HELSINKI_POLYGON


async def test_a_refresh_and_an_area_inside_an_earlier_one_make_no_call_within_the_window(
    area_settings: Settings,
    processes: ProcessFactory,
    overpass_fake: OverpassFake,
    google_places_fake: GooglePlacesFake,
) -> None:
    settings = with_upstreams(area_settings, overpass=overpass_fake, google=google_places_fake).model_copy(
        update={
            "reuse_max_age_s": 600.0,
            "overpass_max_tile_km2": Settings.model_fields["overpass_max_tile_km2"].default,
        }
    )
    await processes.worker(settings_env(settings))
    # Categories no other test asks for together: an earlier test's area must not be the donor.
    body: dict[str, Any] = {"sources": ["overpass", "google_places"], "categories": ["cafe", "pharmacy"]}
    async with area_client(settings) as client:
        first_id = await submit(client, area=HELSINKI_POLYGON, **body)
        first = await finished_area(client, first_id)
        assert first["state"] == "completed"
        assert first["summary"]["tiles_reused"] == 0
        calls = (len(overpass_fake.requests), len(google_places_fake.requests))
        assert calls[0] >= 1
        assert calls[1] >= 1

        run_id = (await client.post(f"/api/areas/{first_id}/refresh")).json()["area_id"]
        run = await finished_area(client, run_id)
        assert run["state"] == "completed"
        assert run["summary"]["tiles_reused"] == run["progress"]["tiles_total"]
        assert run["upstream_calls"] == 0
        for source in ("overpass", "google_places"):
            assert sorted(await stored_ids(settings, run_id, source)) == sorted(
                await stored_ids(settings, first_id, source)
            )
        changes = (await client.get(f"/api/areas/{first_id}/runs/2/changes")).json()
        assert (changes["added"], changes["removed"], changes["changed"]) == (0, 0, 0)

        inner_id = await submit(client, bbox=INNER, **body)
        inner = await finished_area(client, inner_id)
        assert inner["state"] == "completed"
        assert inner["summary"]["tiles_reused"] == inner["progress"]["tiles_total"]
        assert (len(overpass_fake.requests), len(google_places_fake.requests)) == calls  # no call at all
        box = shapely.box(INNER[0], INNER[1], INNER[2], INNER[3])
        for source in ("overpass", "google_places"):
            first_places = await _positions(settings, first_id, source)
            expected = sorted(
                key for key, (lon, lat) in first_places.items() if box.intersects(shapely.Point(lon, lat))
            )
            assert sorted(await stored_ids(settings, inner_id, source)) == expected
            assert expected


async def _positions(settings: Settings, area_id: str, source: str) -> dict[str, tuple[float, float]]:
    import uuid

    from sqlalchemy import select

    from areafetch.db import create_engine
    from areafetch.db.tables import area_places, places

    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(places.c.source_id, places.c.lon, places.c.lat)
                .select_from(area_places.join(places, places.c.id == area_places.c.place_id))
                .where(area_places.c.area_id == uuid.UUID(area_id), places.c.source == source)
            )
            return {row.source_id: (row.lon, row.lat) for row in rows}
    finally:
        await engine.dispose()
