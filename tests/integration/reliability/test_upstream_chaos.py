"""Fault 4: upstream chaos from the Overpass test server — a 429 storm, 504s, an answer slower than the
client's timeout, a cut-off body, a dropped connection, an HTML page with status 200. Within the limiter
and the attempts budget the area completes with the right places; past the budget the job and the area
fail with a reason that names the tile and the upstream's answer."""

from __future__ import annotations

from collections import Counter

import pytest
import shapely

from areafetch.config import Settings
from tests.fakes.expected import expected_osm_keys
from tests.fakes.overpass import OverpassFake, OverpassFault
from tests.helpers import ProcessFactory, area_client, settings_env
from tests.integration.reliability.faults import record_fault
from tests.pipeline import (
    CATEGORIES,
    HELSINKI_POLYGON,
    OSM_FILTERS,
    finished_area,
    stored_ids,
    submit,
    submit_and_wait,
    with_upstreams,
)

pytestmark = pytest.mark.reliability

# The HTTP exchange may take the query's [timeout:] plus 15 s (providers.overpass._HTTP_GRACE_S).
CLIENT_TIMEOUT_S = 1 + 15
CHAOS = [
    OverpassFault(kind="rate_limited", count=3),  # a 429 storm: shared pause, the request sent again
    OverpassFault(kind="busy", count=2),  # 504 too busy
    OverpassFault(kind="slow", delay_s=CLIENT_TIMEOUT_S + 2),  # past the client's timeout
    OverpassFault(kind="truncated"),  # 200, JSON cut off
    OverpassFault(kind="disconnect"),  # 200 headers, half a body, connection dropped
    OverpassFault(kind="html_error"),  # 200 with an HTML error page
]
SMALL_BBOX = [24.940, 60.168, 24.942, 60.169]  # one Overpass tile


@pytest.mark.timeout(180)
async def test_chaos_within_the_budget_completes_with_the_right_places(
    area_settings: Settings, processes: ProcessFactory, overpass_fake: OverpassFake
) -> None:
    settings = with_upstreams(area_settings, overpass=overpass_fake).model_copy(
        update={
            "overpass_max_tile_km2": 1.0,
            "overpass_timeout_s": 1.0,
            "job_attempts": 8,  # every job-failing fault could land on one tile: 6 failures + 1
        }
    )
    worker = await processes.worker(settings_env(settings))
    for fault in CHAOS:
        overpass_fake.inject(fault)

    area_id, area = await submit_and_wait(
        settings, area=HELSINKI_POLYGON, sources=["overpass"], categories=CATEGORIES
    )

    assert area["state"] == "completed", area["failed_reason"]
    assert overpass_fake.pending_faults() == []  # every fault was served
    statuses = Counter(record.status for record in overpass_fake.requests)
    assert statuses[429] == 3
    assert statuses[504] == 2
    assert statuses[403] == 0  # never banned: our 2 s pause outlasts the fixture's 1 s penalty
    expected = expected_osm_keys(shapely.geometry.shape(HELSINKI_POLYGON), OSM_FILTERS)
    stored = await stored_ids(settings, area_id, "overpass")
    assert sorted(stored) == sorted(expected)  # nothing partial kept, nothing twice
    failures = worker.events("job.failed", name="fetch")
    assert 4 <= len(failures) <= 6  # slow, cut-off, dropped, HTML (+ the 504s unless paused and resent)
    assert all(record["will_retry"] for record in failures)
    errors = " | ".join(record["error"] for record in failures)
    assert "timed out" in errors
    assert "HTML" in errors
    injected = sum(fault.count for fault in CHAOS)
    record_fault(
        "Overpass chaos: 3x 429, 2x 504, slow past timeout, cut-off, dropped, HTML 200",
        injected=injected,
        jobs_lost=0,
        duplicates=len(stored) - len(set(stored)),
    )


@pytest.mark.timeout(120)
async def test_a_fault_repeated_past_the_attempts_budget_fails_job_and_area_with_the_reason(
    area_settings: Settings, processes: ProcessFactory, overpass_fake: OverpassFake
) -> None:
    settings = with_upstreams(area_settings, overpass=overpass_fake).model_copy(
        update={"job_attempts": 3, "overpass_max_tile_km2": 2.0}
    )
    worker = await processes.worker(settings_env(settings))
    overpass_fake.inject(OverpassFault(kind="html_error", count=4))  # more than the 3 attempts

    async with area_client(settings) as client:
        area_id = await submit(client, bbox=SMALL_BBOX, sources=["overpass"], categories=["cafe"])
        area = await finished_area(client, area_id, timeout_s=60)
        assert area["progress"]["tiles_total"] == 1
        (tile_job_id,) = {record["job_id"] for record in worker.events("job.failed", name="fetch")}
        job = (await client.get(f"/api/jobs/{tile_job_id}")).json()

    assert area["state"] == "failed"
    assert area["failed_reason"].startswith("no tile could be fetched; the first: overpass tile ")
    assert "UpstreamError: overpass answered 200 with an HTML page" in area["failed_reason"]
    assert (job["state"], job["attempts_made"]) == ("failed", 3)
    assert job["failed_reason"].startswith("overpass answered 200 with an HTML page")
    assert len(overpass_fake.pending_faults()) == 1  # exactly 3 attempts were made, then it stopped
    record_fault("HTML 200 repeated past the attempts budget (3)", injected=3, jobs_lost=0, duplicates=0)
