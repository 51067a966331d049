"""`areafetch status` laid out for the terminal it runs in: at 80 columns no header or figure is cut."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from rich.console import Console

from areafetch.cli.status import QueueStatus, StatusReport, render_status, render_status_json
from areafetch.db.area_reads import AreaOverview
from areafetch.queue import JOB_STATES
from areafetch.queue.admin import WorkerInfo
from areafetch.ratelimit import LimiterStatus

NOW = datetime(2026, 12, 5, 0, 30, tzinfo=UTC)


def busy_report() -> StatusReport:
    """A report with large figures and long names, the kind that squeezed the old tables."""
    queues = [
        QueueStatus(name, {state: 1_234_567 + i for i, state in enumerate(JOB_STATES)})
        for name in ("test-jobs", "areas")
    ]
    workers = [
        WorkerInfo(
            name=f"worker-host-{n}.example.internal:{4000 + n}",
            address=f"10.0.0.{n}:51234",
            connections=3,
            age_s=86_400 + n,
            idle_s=n,
            queues=["test-jobs", "areas"],
        )
        for n in range(3)
    ]
    limiters = [
        LimiterStatus(
            name=name,
            server_time=NOW,
            next_slot_at=NOW,
            next_slot_in_s=12.5,
            in_flight=1,
            max_in_flight=4,
            paused_until=NOW + timedelta(seconds=90),
            requests_today=98_765,
            bytes_today=9_876_543_210,
            requests_left=1_234,
            bytes_left=None,
            budget_exhausted=name == "google_places",
        )
        for name in ("overpass", "google_places")
    ]
    areas = [
        AreaOverview(
            id=uuid.UUID(int=n + 1),
            name=f"Helsinki city centre and the harbour, part {n}",
            state="failed" if n == 0 else "fetching",
            sources=["overpass", "google_places", "osm_extract"],
            categories=["cafe", "restaurant", "bar", "pharmacy", "supermarket"],
            area_km2=12.5,
            tiles_done=1_234,
            tiles_total=5_678,
            upstream_calls=123_456,
            places_total=None if n == 0 else 987_654,
            failed_reason="google_places: the daily request budget of 10,000 is spent" if n == 0 else None,
            created_at=NOW,
            finished_at=None,
        )
        for n in range(10)
    ]
    return StatusReport(
        queues=queues, workers=workers, limiters=limiters, areas=areas, redis_read=True, database_read=True
    )


def rendered(report: StatusReport, width: int) -> str:
    out = StringIO()
    render_status(report, Console(file=out, width=width, color_system=None, legacy_windows=False))
    return out.getvalue()


@pytest.mark.parametrize("width", [80, 100])
def test_at_narrow_widths_no_header_or_figure_is_cut(width: int) -> None:
    report = busy_report()

    output = rendered(report, width)

    assert "…" not in output, output
    assert max(len(line) for line in output.splitlines()) <= width
    words = " ".join(output.split())  # a long value may wrap; its words must all be there
    for header in (
        *JOB_STATES,
        "next slot in",
        "requests today",
        "budget left",
        "bytes today",
        "connected (s)",
    ):
        assert header in words, header
    for figure in ("1234567", "98,765", "9,876,543,210", "1,234 (exhausted)", "12.50 s", "1/4", "1234/5678"):
        assert figure in output, figure
    for area in report.areas:
        assert str(area.id) in output  # ids are copied from here: one piece, never folded
    for worker in report.workers:
        assert worker.name in output
    assert "123456" in output
    assert "failed: google_places: the daily request budget" in words


def test_a_wide_terminal_gets_one_row_per_queue() -> None:
    output = rendered(busy_report(), 250)

    assert "…" not in output
    header = next(line for line in output.splitlines() if "waiting" in line and "delayed" in line)
    assert "queue" in header
    assert "workers" in header


def test_json_is_the_whole_report_for_scripts() -> None:
    report = busy_report()

    document = json.loads(render_status_json(report))

    assert [q["name"] for q in document["queues"]] == ["test-jobs", "areas"]
    assert document["queues"][0]["counts"]["waiting"] == report.queues[0].counts["waiting"]
    assert document["limiters"][1]["budget_exhausted"] is True
    assert document["areas"][0]["id"] == str(uuid.UUID(int=1))
    assert document["areas"][0]["failed_reason"].startswith("google_places")
    assert document["workers"][2]["name"] == report.workers[2].name
    assert document["problems"] == []
