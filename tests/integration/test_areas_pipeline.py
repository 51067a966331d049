"""The area pipeline end to end: web app, worker processes, the test upstreams on the real Helsinki extract."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
import shapely

from areafetch.areas.google_prices import price_usd
from areafetch.areas.states import FINISHED_STATES
from areafetch.config import Settings
from areafetch.db import create_engine
from areafetch.db.density import record_capacity
from areafetch.processors.overpass_learning import HEADROOM, limits_key
from areafetch.ratelimit import Limiter, policy_for
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


async def test_the_plan_job_refuses_an_area_the_google_money_left_does_not_cover(
    area_settings: Settings, processes: ProcessFactory, google_places_fake: GooglePlacesFake
) -> None:
    settings = with_upstreams(area_settings, google=google_places_fake).model_copy(
        update={"google_daily_usd": 0.05}  # one call at 32 USD per 1,000
    )
    redis = aioredis.Redis.from_url(settings.redis_url)
    try:
        limiter = Limiter(
            redis,
            "google_places",
            policy_for(settings, "google_places"),
            namespace=settings.limiter_namespace,
        )
        async with limiter.acquire():  # today's one call is spent
            pass
    finally:
        await redis.aclose()
    await processes.worker(settings_env(settings))
    _, area = await submit_and_wait(
        settings, area=HELSINKI_POLYGON, sources=["google_places"], categories=["restaurant"]
    )

    assert area["state"] == "failed"
    assert "AREAFETCH_GOOGLE_DAILY_USD = 0.05 is left" in area["failed_reason"]
    assert "estimate is 1 Google calls, 0.03 USD" in area["failed_reason"]
    assert google_places_fake.requests == []  # refused before any call


async def test_google_covers_the_area_finding_every_place_within_2_5_times_the_floor(
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
    floor = math.ceil(len(expected) / 20)
    print(f"\ngoogle: {len(expected)} places found with {area['upstream_calls']} calls, floor {floor}")
    assert floor < area["upstream_calls"] <= 2.5 * floor
    billed = len(google_places_fake.billable_calls())
    assert area["summary"]["google_calls_billed"] == billed == area["upstream_calls"]
    assert area["summary"]["google_usd"] == price_usd(billed, settings.google_prices)
    assert all(record.status == 200 for record in google_places_fake.requests)


async def test_google_over_places_osm_already_knows_is_asked_with_text_search_for_fewer_calls(
    area_settings: Settings, processes: ProcessFactory, google_places_fake: GooglePlacesFake
) -> None:
    google_places_fake.configure(page_token_delay_s=0.3)
    settings = with_upstreams(area_settings, google=google_places_fake).model_copy(
        update={"google_method": "auto", "google_text_page_delay_s": 0.3}
    )
    await processes.worker(settings_env(settings))
    categories = ["restaurant", "cafe"]
    _, osm = await submit_and_wait(
        settings, area=HELSINKI_POLYGON, sources=["osm_extract"], categories=categories
    )
    assert osm["state"] == "completed", osm["failed_reason"]

    area_id, area = await submit_and_wait(
        settings, area=HELSINKI_POLYGON, sources=["google_places"], categories=categories
    )

    assert area["state"] == "completed", area["failed_reason"]
    expected = [
        place.id for place in expected_google_places(shapely.geometry.shape(HELSINKI_POLYGON), categories)
    ]
    assert sorted(await stored_ids(settings, area_id, "google_places")) == sorted(expected)
    asked = {record.path.rsplit(":", 1)[-1] for record in google_places_fake.requests}
    assert asked == {"searchText"}
    floor = math.ceil(len(expected) / 20)
    print(f"\ngoogle text: {len(expected)} places found with {area['upstream_calls']} calls, floor {floor}")
    assert floor <= area["upstream_calls"] <= 1.5 * floor
    assert (
        area["summary"]["google_calls_billed"]
        == len(google_places_fake.billable_calls())
        == area["upstream_calls"]
    )


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
    assert sorted(record["attempt"] for record in fetches) == [1, 2]  # the cut-off body failed attempt 1
    children = area["progress"]["tiles_total"]  # the one cell was split into its children
    assert 2 <= children <= 4
    assert area["upstream_calls"] == 1 + children  # the remark, then each child once
    # The retry fetched only the child whose body was cut off: the children stored before it stayed.
    assert len(overpass_fake.requests) == 1 + children + 1
    assert area["progress"]["percent"] == 100.0
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


async def test_a_heavy_cell_is_split_on_the_remark_until_it_fits_and_progress_never_falls(
    area_settings: Settings, processes: ProcessFactory, overpass_fake: OverpassFake
) -> None:
    settings = with_upstreams(area_settings, overpass=overpass_fake).model_copy(
        update={"overpass_max_tile_km2": 5.0}  # the whole polygon is one cell
    )
    overpass_fake.configure(max_elements=60)  # more than 60 elements: a timeout remark
    await processes.worker(settings_env(settings))
    app = create_app(settings)
    percents: list[float] = []
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client,
    ):
        area_id = await submit(client, area=HELSINKI_POLYGON, sources=["overpass"], categories=CATEGORIES)

        async def finished() -> dict[str, Any] | None:
            area: dict[str, Any] = (await client.get(f"/api/areas/{area_id}")).json()
            percents.append(area["progress"]["percent"])
            return area if area["state"] in FINISHED_STATES else None

        area = await eventually(finished, timeout_s=120, interval_s=0.05, what="the area")

    assert area["state"] == "completed", area["failed_reason"]
    expected = expected_osm_keys(shapely.geometry.shape(HELSINKI_POLYGON), OSM_FILTERS)
    assert len(expected) > 60
    assert sorted(await stored_ids(settings, area_id, "overpass")) == sorted(expected)
    remarks = [r for r in overpass_fake.requests if r.outcome == "remark:max_elements"]
    answered = [r for r in overpass_fake.requests if r.outcome == "ok"]
    assert remarks  # the cell was split ...
    assert area["progress"]["tiles_total"] == len(answered)  # ... into leaves, each fetched once
    assert area["upstream_calls"] == len(remarks) + len(answered)
    assert percents == sorted(percents)
    assert percents[-1] == 100.0


async def test_a_remark_splits_a_cell_into_the_fewest_parts_that_the_places_already_counted_say_fit(
    area_settings: Settings, processes: ProcessFactory, overpass_fake: OverpassFake
) -> None:
    """The places are known from the extract and the capacity from an earlier remark: the heavy cell is
    cut once, into as many parts as its counted places need, and every part is answered (with
    quadrants, as when nothing is counted, it would be cut into 4 parts and each cut again)."""
    settings = with_upstreams(area_settings, overpass=overpass_fake).model_copy(
        update={"overpass_max_tile_km2": 5.0}  # the whole polygon is one cell
    )
    await processes.worker(settings_env(settings))
    _, from_extract = await submit_and_wait(
        settings, area=HELSINKI_POLYGON, sources=["osm_extract"], categories=CATEGORIES
    )
    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            await record_capacity(
                conn, source="overpass", limits=limits_key(settings), failed_places=61, answered_places=None
            )
    finally:
        await engine.dispose()
    overpass_fake.configure(max_elements=60)  # more than 60 elements: a timeout remark
    area_id, area = await submit_and_wait(
        settings, area=HELSINKI_POLYGON, sources=["overpass"], categories=CATEGORIES
    )

    assert area["state"] == "completed", area["failed_reason"]
    counted = from_extract["summary"]["places_total"]
    parts = math.ceil(counted / (61 * HEADROOM))
    assert parts > 4
    outcomes = [r.outcome for r in overpass_fake.requests]
    assert outcomes == ["remark:max_elements"] + ["ok"] * (len(outcomes) - 1)  # one cut, every part fit
    # As many parts as the places counted need (other areas' places in the cell may add to them).
    assert parts <= area["progress"]["tiles_total"] == area["upstream_calls"] - 1
    assert sorted(await stored_ids(settings, area_id, "overpass")) == sorted(
        expected_osm_keys(shapely.geometry.shape(HELSINKI_POLYGON), OSM_FILTERS)
    )


async def test_a_cell_that_cannot_be_split_further_fails_with_the_remark_text(
    area_settings: Settings, processes: ProcessFactory, overpass_fake: OverpassFake
) -> None:
    settings = with_upstreams(area_settings, overpass=overpass_fake).model_copy(
        update={"overpass_max_tile_km2": 5.0, "max_split_depth": 1}
    )
    overpass_fake.configure(max_elements=1, max_elements_remark="memory")
    await processes.worker(settings_env(settings))
    _, area = await submit_and_wait(
        settings, area=HELSINKI_POLYGON, sources=["overpass"], categories=CATEGORIES
    )

    assert area["state"] == "failed"
    reason = area["failed_reason"]
    assert "cannot be split further" in reason
    assert "runtime error: Query run out of memory" in reason
    # One cell, split once into at most four, the first child failed: no loop, no retry of it.
    assert len(overpass_fake.requests) == 2


async def test_a_second_area_over_the_same_region_is_planned_from_what_the_first_learned(
    area_settings: Settings, processes: ProcessFactory, overpass_fake: OverpassFake
) -> None:
    settings = with_upstreams(area_settings, overpass=overpass_fake).model_copy(
        # one cell before anything is learned; densities on a grid fine enough for a 1.5 km² area
        update={"overpass_max_tile_km2": 5.0, "overpass_density_cell_deg": 0.002}
    )
    overpass_fake.configure(max_elements=60)
    await processes.worker(settings_env(settings))
    first_id, first = await submit_and_wait(
        settings, area=HELSINKI_POLYGON, sources=["overpass"], categories=CATEGORIES
    )
    first_remarks = [r for r in overpass_fake.requests if r.outcome.startswith("remark")]
    seen = len(overpass_fake.requests)
    second_id, second = await submit_and_wait(
        settings, area=HELSINKI_POLYGON, sources=["overpass"], categories=CATEGORIES
    )

    assert first["state"] == second["state"] == "completed"
    assert first_remarks  # the first area had to split ...
    second_requests = overpass_fake.requests[seen:]
    assert [r.outcome for r in second_requests] == ["ok"] * len(second_requests)  # ... the second did not
    assert second["progress"]["tiles_total"] > 1  # it was planned as several cells from the start
    assert second["upstream_calls"] < first["upstream_calls"]
    assert sorted(await stored_ids(settings, second_id, "overpass")) == sorted(
        await stored_ids(settings, first_id, "overpass")
    )


async def test_all_overpass_endpoints_down_the_cell_retries_within_its_attempts_then_names_each(
    area_settings: Settings, processes: ProcessFactory, overpass_fake: OverpassFake
) -> None:
    dead = []
    for _ in range(2):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            dead.append(f"http://127.0.0.1:{sock.getsockname()[1]}/api/interpreter")  # nobody listens
    settings = area_settings.model_copy(
        update={"overpass_urls": tuple(dead), "overpass_max_tile_km2": 5.0, "job_attempts": 3}
    )
    worker = await processes.worker(settings_env(settings))
    _, area = await submit_and_wait(
        settings, area=HELSINKI_POLYGON, sources=["overpass"], categories=CATEGORIES
    )

    assert area["state"] == "failed"
    reason = area["failed_reason"]
    assert "every Overpass endpoint failed (2 tried)" in reason
    assert all(url in reason for url in dead)
    attempts = sorted(record["attempt"] for record in worker.events("job.started", name="fetch"))
    assert attempts == [1, 2, 3]  # it waited and retried within its attempts


async def test_a_cell_answered_504_twice_in_a_row_is_split_once_is_only_retried(
    area_settings: Settings, processes: ProcessFactory, overpass_fake: OverpassFake
) -> None:
    settings = with_upstreams(area_settings, overpass=overpass_fake).model_copy(
        update={"overpass_max_tile_km2": 5.0}  # one cell
    )
    worker = await processes.worker(settings_env(settings))
    overpass_fake.inject(OverpassFault(kind="busy", count=2))
    area_id, area = await submit_and_wait(
        settings, area=HELSINKI_POLYGON, sources=["overpass"], categories=CATEGORIES
    )

    assert area["state"] == "completed", area["failed_reason"]
    expected = expected_osm_keys(shapely.geometry.shape(HELSINKI_POLYGON), OSM_FILTERS)
    assert sorted(await stored_ids(settings, area_id, "overpass")) == sorted(expected)
    statuses = [r.status for r in overpass_fake.requests]
    children = area["progress"]["tiles_total"]
    assert statuses == [504, 504] + [200] * children  # retried once as it was, then split
    assert 2 <= children <= 4
    assert sorted(r["attempt"] for r in worker.events("job.started", name="fetch")) == [1, 2]


async def test_an_answer_near_maxsize_is_kept_and_the_next_area_is_planned_smaller(
    area_settings: Settings, processes: ProcessFactory, overpass_fake: OverpassFake
) -> None:
    # The categories over the polygon answer ~129 kB: within 10 % of a 140 kB [maxsize:].
    settings = with_upstreams(area_settings, overpass=overpass_fake).model_copy(
        update={
            "overpass_max_tile_km2": 5.0,
            "overpass_maxsize_bytes": 140_000,
            "overpass_density_cell_deg": 0.002,
        }
    )
    await processes.worker(settings_env(settings))
    _, first = await submit_and_wait(
        settings, area=HELSINKI_POLYGON, sources=["overpass"], categories=CATEGORIES
    )
    answer_bytes = overpass_fake.requests[0].detail["bytes"]
    _, second = await submit_and_wait(
        settings, area=HELSINKI_POLYGON, sources=["overpass"], categories=CATEGORIES
    )

    assert 0.9 * 140_000 <= answer_bytes <= 140_000  # the premise: near the limit, not over it
    assert first["state"] == second["state"] == "completed"
    assert first["progress"]["tiles_total"] == first["upstream_calls"] == 1  # answered: kept, not split
    assert second["progress"]["tiles_total"] > 1  # planned smaller from the start
    assert all(r.outcome == "ok" for r in overpass_fake.requests)
