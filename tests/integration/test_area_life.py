"""An area's life after it is submitted: partial results when tiles fail for good, a retry of only
those tiles, and a cancel after which no upstream call is made (counted at the fakes)."""

from __future__ import annotations

import time
import uuid

import shapely

from areafetch.config import Settings
from tests.fakes.expected import expected_google_places, expected_osm_keys
from tests.fakes.google_places import GooglePlacesFake, GooglePlacesFault
from tests.fakes.overpass import OverpassFake
from tests.helpers import ProcessFactory, area_client, eventually, settings_env
from tests.pipeline import (
    CATEGORIES,
    HELSINKI_POLYGON,
    OSM_FILTERS,
    finished_area,
    stored_ids,
    submit,
    with_upstreams,
)

GOOGLE_CATEGORIES = ["restaurant", "cafe"]


async def test_a_source_that_refuses_leaves_the_area_partial_and_a_retry_fetches_only_its_tiles(
    area_settings: Settings,
    processes: ProcessFactory,
    overpass_fake: OverpassFake,
    google_places_fake: GooglePlacesFake,
) -> None:
    settings = with_upstreams(area_settings, overpass=overpass_fake, google=google_places_fake)
    google_places_fake.inject(GooglePlacesFault(kind="http_error", status=403, count=10_000))
    await processes.worker(settings_env(settings))
    async with area_client(settings) as client:
        area_id = await submit(
            client, area=HELSINKI_POLYGON, sources=["overpass", "google_places"], categories=GOOGLE_CATEGORIES
        )
        area = await finished_area(client, area_id)

        assert area["state"] == "partial", area
        google_tiles = [tile for tile in area["failed_tiles"] if tile["source"] == "google_places"]
        assert google_tiles == area["failed_tiles"]  # every Overpass tile was fetched
        assert all("google places 403" in tile["reason"] for tile in google_tiles)
        assert "tile(s) failed, the rest were fetched" in area["failed_reason"]
        assert area["summary"]["tiles_failed"] == len(google_tiles)
        expected_osm = expected_osm_keys(shapely.geometry.shape(HELSINKI_POLYGON), OSM_FILTERS[:2])
        assert sorted(await stored_ids(settings, area_id, "overpass")) == sorted(expected_osm)
        overpass_calls = len(overpass_fake.requests)

        google_places_fake.reset()  # the key works again
        response = await client.post(f"/api/areas/{area_id}/retry")
        assert response.status_code == 202, response.text
        assert response.json()["state"] == "running"
        assert response.json()["failed_tiles"] == []
        area = await finished_area(client, area_id)

        assert area["state"] == "completed", area
        assert area["failed_tiles"] == []
        assert len(overpass_fake.requests) == overpass_calls  # nothing fetched twice
        expected_google = expected_google_places(shapely.geometry.shape(HELSINKI_POLYGON), GOOGLE_CATEGORIES)
        found = await stored_ids(settings, area_id, "google_places")
        assert sorted(found) == sorted(place.id for place in expected_google)
        assert sorted(await stored_ids(settings, area_id, "overpass")) == sorted(expected_osm)
        assert area["summary"]["places_total"] == len(expected_osm) + len(expected_google)

        again = await client.post(f"/api/areas/{area_id}/retry")
        assert again.status_code == 409
        assert "is completed" in again.json()["detail"]


async def test_an_area_whose_every_tile_failed_is_failed_and_can_be_retried(
    area_settings: Settings, processes: ProcessFactory, google_places_fake: GooglePlacesFake
) -> None:
    settings = with_upstreams(area_settings, google=google_places_fake)
    google_places_fake.inject(GooglePlacesFault(kind="http_error", status=403, count=10_000))
    await processes.worker(settings_env(settings))
    async with area_client(settings) as client:
        area_id = await submit(
            client, area=HELSINKI_POLYGON, sources=["google_places"], categories=GOOGLE_CATEGORIES
        )
        area = await finished_area(client, area_id)
        assert area["state"] == "failed"
        assert area["failed_reason"].startswith("no tile could be fetched; the first: google_places tile")

        google_places_fake.reset()
        assert (await client.post(f"/api/areas/{area_id}/retry")).status_code == 202
        area = await finished_area(client, area_id)
        assert area["state"] == "completed", area
        assert area["failed_reason"] is None


async def test_a_cancel_stops_the_area_and_no_upstream_call_is_made_after_it(
    area_settings: Settings, processes: ProcessFactory, overpass_fake: OverpassFake
) -> None:
    settings = with_upstreams(area_settings, overpass=overpass_fake).model_copy(
        update={"overpass_max_tile_km2": 0.02}  # many small cells, each a call
    )
    overpass_fake.configure(latency_s=0.3)
    await processes.worker(settings_env(settings))
    async with area_client(settings) as client:
        area_id = await submit(client, area=HELSINKI_POLYGON, sources=["overpass"], categories=CATEGORIES)

        async def some_tiles_done() -> bool:
            area = (await client.get(f"/api/areas/{area_id}")).json()
            return bool(area["progress"]["tiles_done"] >= 2)

        await eventually(some_tiles_done, timeout_s=60, what="two tiles done")
        response = await client.post(f"/api/areas/{area_id}/cancel")
        cancelled_at = time.time()
        assert response.status_code == 200, response.text
        assert response.json()["state"] == "cancelled"

        async def summarised() -> dict[str, object] | None:  # finalise ran: every job has ended
            area: dict[str, object] = (await client.get(f"/api/areas/{area_id}")).json()
            return area if area["summary"] is not None else None

        area = await eventually(summarised, timeout_s=60, what="the cancelled area's summary")
        assert area["state"] == "cancelled"
        progress = area["progress"]
        assert isinstance(progress, dict)
        assert 2 <= progress["tiles_done"] < progress["tiles_total"]
        late = [record for record in overpass_fake.requests if record.started > cancelled_at]
        assert late == []
        conflict = await client.post(f"/api/areas/{area_id}/cancel")
        assert conflict.status_code == 409
        assert "is cancelled" in conflict.json()["detail"]
        assert (await client.post(f"/api/areas/{area_id}/retry")).status_code == 409


async def test_every_action_on_an_unknown_area_is_404(area_settings: Settings) -> None:
    unknown = uuid.uuid4()
    async with area_client(area_settings) as client:
        for method, path in [
            ("POST", "retry"),
            ("POST", "cancel"),
            ("POST", "refresh"),
            ("GET", "runs"),
            ("GET", "runs/2/changes"),
            ("DELETE", ""),
        ]:
            response = await client.request(method, f"/api/areas/{unknown}/{path}".rstrip("/"))
            assert response.status_code == 404, (method, path, response.text)
            assert str(unknown) in response.json()["detail"]
