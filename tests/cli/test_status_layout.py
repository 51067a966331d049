"""`areafetch status` at any terminal width: every header and figure whole, never cut to `…`; `--json`."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console

from areafetch.cli.status import QueueStatus, StatusReport, render_status, status_json
from areafetch.db.area_reads import AreaOverview
from areafetch.queue import JOB_STATES
from areafetch.queue.admin import WorkerInfo
from areafetch.ratelimit import LimiterStatus

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
AREA_ID = uuid.UUID("0b6e2f49-4a4e-4f8a-9d0e-4b1a2c3d4e5f")


def _report() -> StatusReport:
    counts: dict[str, int] = {state: 1000 + index for index, state in enumerate(JOB_STATES)}
    limiter = LimiterStatus(
        name="google_places",
        server_time=NOW,
        next_slot_at=NOW + timedelta(seconds=1.25),
        next_slot_in_s=1.25,
        in_flight=3,
        max_in_flight=4,
        paused_until=NOW + timedelta(seconds=30),
        requests_today=123_456,
        bytes_today=987_654_321,
        requests_left=9_876,
        bytes_left=None,
        budget_exhausted=False,
    )
    area = AreaOverview(
        id=AREA_ID,
        name="Helsinki city centre, cafés",
        state="completed",
        sources=["overpass", "google_places", "osm_extract"],
        categories=["cafe", "restaurant", "bar", "bank", "pharmacy"],
        area_km2=12.5,
        tiles_done=4321,
        tiles_total=4321,
        upstream_calls=7654,
        places_total=123_456,
        failed_reason=None,
        created_at=NOW,
        finished_at=NOW,
    )
    worker = WorkerInfo(
        name="worker-host-01:12345",
        address="127.0.0.1:50000",
        connections=3,
        age_s=86_400,
        idle_s=7,
        queues=["areas"],
    )
    return StatusReport(
        queues=[QueueStatus("test-jobs", counts), QueueStatus("areas", counts)],
        workers=[worker],
        limiters=[limiter, limiter.model_copy(update={"name": "overpass"})],
        areas=[area, area],
        redis_read=True,
        database_read=True,
    )


def _rendered(width: int) -> str:
    out = io.StringIO()
    render_status(_report(), Console(file=out, width=width, color_system=None, legacy_windows=False))
    return out.getvalue()


@pytest.mark.parametrize("width", [60, 80, 100, 200])
def test_every_header_and_figure_is_whole_at_any_width(width: int) -> None:
    output = _rendered(width)
    assert "…" not in output
    assert max(len(line) for line in output.splitlines()) <= width
    for header in (*JOB_STATES, "workers", "next slot in", "requests today", "budget left", "categories"):
        assert header in output, header
    for figure in (
        "1000",
        "1007",
        "123,456",
        "987,654,321",
        "9,876",
        str(AREA_ID),
        "4321/4321",
        "7654",
        "86400",
    ):
        assert figure in output, figure
    assert "Helsinki city centre, cafés" in output


def test_a_wide_terminal_gets_plain_tables() -> None:
    output = _rendered(220)
    assert "┃ queue " in output  # one table with a header row, not turned or stacked


def test_json_holds_the_same_figures_for_scripts() -> None:
    data = json.loads(status_json(_report()))
    assert data["queues"][0] == {"name": "test-jobs", "counts": _report().queues[0].counts}
    assert data["limiters"][0]["requests_today"] == 123_456
    assert data["areas"][0]["id"] == str(AREA_ID)
    assert data["workers"][0]["name"] == "worker-host-01:12345"
    assert data["problems"] == []
