"""Schedules: an area with `refresh_every` gets a BullMQ job scheduler that starts a run each time it
is due, skips (and says so) while a run still goes, survives a worker killed with SIGKILL, and goes
with the area."""

from __future__ import annotations

import signal
import uuid
from typing import Any

import pytest

from areafetch.areas.job_ids import refresh_scheduler_id
from areafetch.cli.status import collect_status
from areafetch.config import Settings
from areafetch.constants import AREAS_QUEUE
from areafetch.queue import Queues
from areafetch.queue.schedules import refresh_schedules
from tests.fakes.overpass import OverpassFake
from tests.helpers import ProcessFactory, area_client, eventually, settings_env
from tests.pipeline import HELSINKI_POLYGON, submit, with_upstreams


async def test_a_scheduled_area_runs_again_and_again_skips_while_a_run_goes_and_survives_a_killed_worker(
    area_settings: Settings, processes: ProcessFactory, overpass_fake: OverpassFake, queues: Queues
) -> None:
    settings = with_upstreams(area_settings, overpass=overpass_fake).model_copy(
        update={
            "min_refresh_interval_s": 1,
            "overpass_max_tile_km2": Settings.model_fields["overpass_max_tile_km2"].default,  # one call a run
        }
    )
    overpass_fake.configure(latency_s=2.5)  # a run outlasts the 2 s schedule: the next is skipped
    env = settings_env(settings)
    worker = await processes.worker(env)
    async with area_client(settings) as client:
        first_id = await submit(
            client, area=HELSINKI_POLYGON, sources=["overpass"], categories=["cafe"], refresh_every="2s"
        )
        area = (await client.get(f"/api/areas/{first_id}")).json()
        assert area["refresh_every"] == "2s"
        assert [s.area_id for s in await refresh_schedules(queues) if str(s.area_id) == first_id]
        report = await collect_status(settings)  # `areafetch status` shows it
        assert [s.every for s in report.schedules if str(s.area_id) == first_id] == ["2s"]

        async def runs_done(count: int) -> list[dict[str, Any]] | None:
            runs: list[dict[str, Any]] = (await client.get(f"/api/areas/{first_id}/runs")).json()
            finished = [run for run in runs if run["state"] == "completed"]
            return runs if len(finished) >= count else None

        await eventually(lambda: runs_done(2), timeout_s=60, what="a second run")
        skipped = await worker.wait_for_event("refresh.skipped", timeout_s=30)
        assert "one run at a time" in skipped["reason"]

        worker.signal(signal.SIGKILL)
        await worker.wait_exit(timeout_s=10)
        await processes.worker(env)  # the schedule lives in Redis: a new worker goes on with it
        runs = await eventually(lambda: runs_done(3), timeout_s=90, what="a run after the restart")
        assert [run["run"] for run in runs] == list(range(1, len(runs) + 1))
        assert sum(run["state"] in ("queued", "planning", "running") for run in runs) <= 1

        async def deleted() -> bool:
            return (await client.delete(f"/api/areas/{first_id}")).status_code == 204

        await eventually(deleted, timeout_s=60, what="a moment between runs to delete the area")
        assert not await queues.get(AREAS_QUEUE).isJobScheduler(refresh_scheduler_id(uuid.UUID(first_id)))


@pytest.mark.parametrize(
    ("refresh_every", "message"),
    [
        ("every day", "neither an interval"),
        ("* * * *", "neither an interval"),
        (30, "too often: at least 3600 s"),
        ("*/5 * * * *", "runs every 300 s; at least 3600 s apart"),
    ],
)
async def test_a_bad_schedule_is_a_422_naming_refresh_every(
    area_settings: Settings, refresh_every: object, message: str
) -> None:
    async with area_client(area_settings) as client:
        body = {
            "name": "bad schedule",
            "area": HELSINKI_POLYGON,
            "sources": ["osm_extract"],
            "categories": ["cafe"],
            "refresh_every": refresh_every,
        }
        response = await client.post("/api/areas", json=body)
    assert response.status_code == 422, response.text
    assert "refresh_every" in response.text
    assert message in response.text
