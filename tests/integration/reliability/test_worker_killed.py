"""Fault 1: a worker killed with SIGKILL while a tile's Overpass request is in flight. The stalled-job
check of another worker recovers the job; the area ends with exactly the places of an uninterrupted run."""

from __future__ import annotations

import signal
from collections import Counter

import pytest
import shapely

from areafetch.config import Settings
from tests.fakes.expected import expected_osm_keys
from tests.fakes.overpass import OverpassFake, OverpassFault
from tests.helpers import ProcessFactory, area_client, eventually, settings_env
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


@pytest.mark.timeout(150)
async def test_sigkill_mid_tile_is_recovered_by_the_stalled_check_with_no_duplicate(
    area_settings: Settings, processes: ProcessFactory, overpass_fake: OverpassFake
) -> None:
    settings = with_upstreams(area_settings, overpass=overpass_fake).model_copy(
        update={"overpass_max_tile_km2": 0.5}
    )
    env = settings_env(settings)
    doomed = await processes.worker(env)
    overpass_fake.inject(OverpassFault(kind="slow", delay_s=6.0))
    async with area_client(settings) as client:
        area_id = await submit(client, area=HELSINKI_POLYGON, sources=["overpass"], categories=CATEGORIES)

        async def request_in_flight() -> bool:  # the fake took the fault: the slow answer is on its way
            return not overpass_fake.pending_faults()

        await eventually(request_in_flight, timeout_s=30, what="the slow Overpass request")
        doomed.signal(signal.SIGKILL)
        await doomed.wait_exit(timeout_s=10)
        started = {record["job_id"] for record in doomed.events("job.started", name="fetch")}
        finished = {record["job_id"] for record in doomed.events("job.completed", name="fetch")}
        killed = started - finished
        assert killed  # the one whose request is in flight, and those waiting for the limiter

        rescuer = await processes.worker(env)
        area = await finished_area(client, area_id, timeout_s=90)

    assert area["state"] == "completed", area["failed_reason"]
    recovered = sum(bool(rescuer.events("job.completed", job_id=job_id)) for job_id in killed)
    for job_id in killed:
        assert rescuer.events("job.stalled", job_id=job_id)  # recovered by the stalled check ...
        assert len(rescuer.events("job.completed", job_id=job_id)) == 1  # ... and completed once
    expected = expected_osm_keys(shapely.geometry.shape(HELSINKI_POLYGON), OSM_FILTERS)
    stored = await stored_ids(settings, area_id, "overpass")
    duplicates = sum(count - 1 for count in Counter(stored).values())
    assert duplicates == 0
    assert sorted(stored) == sorted(expected)
    assert area["progress"]["tiles_done"] == area["progress"]["tiles_total"] > 1

    # The same area again, uninterrupted: the same counts.
    clean_id, clean = await submit_and_wait(
        settings, area=HELSINKI_POLYGON, sources=["overpass"], categories=CATEGORIES
    )
    assert clean["state"] == "completed", clean["failed_reason"]
    assert sorted(await stored_ids(settings, clean_id, "overpass")) == sorted(stored)
    for key in ("places_total", "places_by_source", "places_by_category", "tiles"):
        assert area["summary"][key] == clean["summary"][key], key
    record_fault(
        "worker SIGKILL mid-tile", injected=1, jobs_lost=len(killed) - recovered, duplicates=duplicates
    )
