"""The area pipeline end to end: web app, worker processes, the test upstreams on the real Helsinki extract."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import httpx
import shapely

from areafetch.config import Settings
from areafetch.web.app import create_app
from tests.fakes.cafes import cafe_ids, write_cafes
from tests.fakes.expected import expected_google_places, expected_osm_keys
from tests.fakes.google_places import GooglePlacesFake
from tests.fakes.overpass import OverpassFake, OverpassFault
from tests.helpers import ProcessFactory, area_client, eventually, settings_env
from tests.pipeline import (
    CATEGORIES,
    HELSINKI_POLYGON,
    OSM_FILTERS,
    OVERPASS_RATE,
    finished_area,
    stored_ids,
    submit,
    submit_and_wait,
    tile_count,
    with_upstreams,
)


async def test_helsinki_from_overpass_and_extract_equals_the_extract_computed_independently(
    area_settings: Settings, processes: ProcessFactory, overpass_fake: OverpassFake
) -> None:
    settings = with_upstreams(area_settings, overpass=overpass_fake)
    await processes.worker(settings_env(settings))
    area_id, area = await submit_and_wait(
        settings, area=HELSINKI_POLYGON, sources=["overpass", "osm_extract"], categories=CATEGORIES
    )

    assert area["state"] == "completed", area["failed_reason"]
    expected = expected_osm_keys(shapely.geometry.shape(HELSINKI_POLYGON), OSM_FILTERS)
    assert len(expected) > 50
    overpass_ids = await stored_ids(settings, area_id, "overpass")
    extract_ids = await stored_ids(settings, area_id, "osm_extract")
    assert sorted(overpass_ids) == sorted(expected)
    assert sorted(extract_ids) == sorted(expected)
    summary = area["summary"]
    assert summary["places_by_source"] == {"overpass": len(expected), "osm_extract": len(expected)}
    assert summary["places_total"] == 2 * len(expected)
    assert summary["upstream_calls"] == area["progress"]["tiles_total"] - 1  # the extract makes no calls
    assert overpass_fake.rejections() == []


async def test_sixteen_plus_tiles_with_two_workers_finish_at_the_configured_rate_without_a_ban(
    area_settings: Settings, processes: ProcessFactory, overpass_fake: OverpassFake
) -> None:
    settings = with_upstreams(area_settings, overpass=overpass_fake)
    env = settings_env(settings)
    await asyncio.gather(processes.worker(env), processes.worker(env))
    app = create_app(settings)
    seen: list[int] = []
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client,
    ):
        started = time.monotonic()
        area_id = await submit(client, area=HELSINKI_POLYGON, sources=["overpass"], categories=["cafe"])
        area = await finished_area(client, area_id, seen=seen)
        elapsed = time.monotonic() - started

    assert area["state"] == "completed", area["failed_reason"]
    calls = area["upstream_calls"]
    assert area["progress"]["tiles_total"] >= 16
    assert calls >= area["progress"]["tiles_total"]
    ideal_s = calls / OVERPASS_RATE
    print(f"\n{calls} Overpass calls in {elapsed:.1f}s; at {OVERPASS_RATE}/s the rate allows {ideal_s:.1f}s")
    assert elapsed <= ideal_s * 1.25 + 4.0
    assert overpass_fake.rejections() == []  # no 429, no ban
    assert len(set(seen)) >= 4  # progress moved through intermediate values
    assert seen == sorted(seen)


async def test_google_circles_hitting_the_20_cap_are_split_and_every_place_found_once(
    area_settings: Settings, processes: ProcessFactory, google_places_fake: GooglePlacesFake
) -> None:
    settings = with_upstreams(area_settings, google=google_places_fake)
    await processes.worker(settings_env(settings))
    area_id, area = await submit_and_wait(
        settings, area=HELSINKI_POLYGON, sources=["google_places"], categories=["restaurant", "cafe"]
    )

    assert area["state"] == "completed", area["failed_reason"]
    expected = [
        place.id
        for place in expected_google_places(shapely.geometry.shape(HELSINKI_POLYGON), ["restaurant", "cafe"])
    ]
    assert len(expected) > 40  # several circles must have hit the cap of 20
    found = await stored_ids(settings, area_id, "google_places")
    assert sorted(found) == sorted(expected)
    assert area["upstream_calls"] > 2  # the first circle was split
    print(f"\ngoogle: {len(expected)} places found with {area['upstream_calls']} calls")
    assert all(record.status == 200 for record in google_places_fake.requests)


async def test_remark_splits_the_tile_and_a_cut_off_body_is_retried_nothing_partial_stored(
    area_settings: Settings, processes: ProcessFactory, overpass_fake: OverpassFake
) -> None:
    settings = with_upstreams(area_settings, overpass=overpass_fake).model_copy(
        update={"overpass_max_tile_km2": 2.0}  # one tile
    )
    worker = await processes.worker(settings_env(settings))
    overpass_fake.inject(OverpassFault(kind="remark_timeout"))
    overpass_fake.inject(OverpassFault(kind="truncated"))
    area_id, area = await submit_and_wait(
        settings, area=HELSINKI_POLYGON, sources=["overpass"], categories=CATEGORIES
    )

    assert area["state"] == "completed", area["failed_reason"]
    expected = expected_osm_keys(shapely.geometry.shape(HELSINKI_POLYGON), OSM_FILTERS)
    assert sorted(await stored_ids(settings, area_id, "overpass")) == sorted(expected)
    fetches = worker.events("job.started", name="fetch")
    tiles_total = area["progress"]["tiles_total"]
    assert len(fetches) == tiles_total + 1  # the cut-off body failed one attempt ...
    assert sorted(record["attempt"] for record in fetches)[-1] == 2  # ... which was retried once
    assert area["upstream_calls"] == tiles_total + 4  # the remark split one tile into four
    assert overpass_fake.pending_faults() == []


async def test_kill_9_mid_area_then_a_new_worker_completes_with_the_same_places(
    area_settings: Settings, processes: ProcessFactory, overpass_fake: OverpassFake
) -> None:
    settings = with_upstreams(area_settings, overpass=overpass_fake)
    env = settings_env(settings)
    first = await processes.worker(env)
    async with area_client(settings) as client:
        area_id = await submit(client, area=HELSINKI_POLYGON, sources=["overpass"], categories=CATEGORIES)

        async def some_tiles_done() -> bool:
            progress = (await client.get(f"/api/areas/{area_id}")).json()["progress"]
            return bool(3 <= progress["tiles_done"] < progress["tiles_total"] - 3)

        await eventually(some_tiles_done, timeout_s=60, what="a few tiles done")
        first.proc.send_signal(signal.SIGKILL)
        await first.wait_exit(timeout_s=10)
        await processes.worker(env)
        area = await finished_area(client, area_id, timeout_s=120)

    assert area["state"] == "completed", area["failed_reason"]
    expected = expected_osm_keys(shapely.geometry.shape(HELSINKI_POLYGON), OSM_FILTERS)
    stored = await stored_ids(settings, area_id, "overpass")
    assert sorted(stored) == sorted(expected)  # same places as an uninterrupted run, none twice
    assert area["progress"]["tiles_done"] == area["progress"]["tiles_total"]


async def test_area_over_the_per_job_cap_is_refused_with_the_reason_and_stores_no_tiles(
    area_settings: Settings, processes: ProcessFactory, overpass_fake: OverpassFake
) -> None:
    settings = with_upstreams(area_settings, overpass=overpass_fake).model_copy(
        update={"max_upstream_calls_per_job": 5}
    )
    await processes.worker(settings_env(settings))
    area_id, area = await submit_and_wait(
        settings, area=HELSINKI_POLYGON, sources=["overpass"], categories=["cafe"]
    )
    async with area_client(settings) as client:
        job = (await client.get(f"/api/jobs/{area['job_id']}")).json()

    assert area["state"] == "failed"
    assert "per-job cap is 5" in area["failed_reason"]
    assert (job["state"], job["attempts_made"]) == ("failed", 1)
    assert "per-job cap is 5" in job["failed_reason"]
    assert await tile_count(settings, area_id) == 0
    assert overpass_fake.requests == []


async def test_area_over_what_is_left_of_the_daily_budget_is_refused(
    area_settings: Settings, processes: ProcessFactory, overpass_fake: OverpassFake
) -> None:
    settings = with_upstreams(area_settings, overpass=overpass_fake).model_copy(
        update={"overpass_daily_requests": 3}
    )
    await processes.worker(settings_env(settings))
    area_id, area = await submit_and_wait(
        settings, area=HELSINKI_POLYGON, sources=["overpass"], categories=["cafe"]
    )

    assert area["state"] == "failed"
    assert "overpass calls but only 3 are left in today's budget" in area["failed_reason"]
    assert await tile_count(settings, area_id) == 0
    assert overpass_fake.requests == []


# --- a large extract, streamed --------------------------------------------------------------------

CAFES_BBOX = (24.90, 60.15, 24.95, 60.17)
CAFES_AREA = [24.899, 60.149, 24.951, 60.171]  # the bbox, a little larger


async def test_an_extract_of_30000_places_is_streamed_in_chunks_and_each_stored_once(
    area_settings: Settings, processes: ProcessFactory, tmp_path: Path
) -> None:
    pbf = write_cafes(tmp_path / "cafes.osm.pbf", 30_000, CAFES_BBOX)
    settings = area_settings.model_copy(update={"osm_extract_path": pbf})
    worker = await processes.worker(settings_env(settings))
    area_id, area = await submit_and_wait(
        settings, bbox=CAFES_AREA, sources=["osm_extract"], categories=["cafe"]
    )

    assert area["state"] == "completed", area["failed_reason"]
    stored = await stored_ids(settings, area_id, "osm_extract")
    assert len(stored) == 30_000
    assert sorted(stored) == sorted(cafe_ids(30_000))
    assert area["summary"]["places_total"] == 30_000
    record = await worker.wait_for_event("extract.stored", area_id=area_id)
    assert (record["places"], record["chunks"]) == (30_000, 3)  # chunks of 10,000


async def test_kill_9_mid_extract_stores_nothing_then_a_new_worker_stores_every_place_once(
    area_settings: Settings, processes: ProcessFactory, tmp_path: Path
) -> None:
    pbf = write_cafes(tmp_path / "cafes.osm.pbf", 60_000, CAFES_BBOX)
    settings = area_settings.model_copy(update={"osm_extract_path": pbf})
    first = await processes.worker(settings_env(settings.model_copy(update={"log_level": "DEBUG"})))
    async with area_client(settings) as client:
        area_id = await submit(client, bbox=CAFES_AREA, sources=["osm_extract"], categories=["cafe"])
        await first.wait_for_event("extract.chunk_written", timeout_s=60, area_id=area_id, chunk=1)
        os.killpg(first.pid, signal.SIGKILL)  # the worker and its pool process (which would linger idle)
        await first.wait_exit(timeout_s=10)

        # The first chunk was written in the tile's open transaction: gone with the worker.
        assert await stored_ids(settings, area_id, "osm_extract") == []
        assert (await client.get(f"/api/areas/{area_id}")).json()["progress"]["tiles_done"] == 0

        await processes.worker(settings_env(settings))
        area = await finished_area(client, area_id, timeout_s=120)

    assert area["state"] == "completed", area["failed_reason"]
    stored = await stored_ids(settings, area_id, "osm_extract")
    assert len(stored) == 60_000
    assert sorted(stored) == sorted(cafe_ids(60_000))
