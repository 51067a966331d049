"""`areafetch status`: queues, rate limiters, workers and recent areas, read straight from Redis and PostgreSQL.

It reads the shared state itself (the same modules the web app and workers use) rather than
asking the web app, so it also works when no web app runs. A service that cannot be reached is
reported and the rest is still shown; the exit code is then 1.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import TypeAdapter
from redis.exceptions import RedisError
from rich.console import Console, JustifyMethod
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from areafetch.areas import RATE_LIMITED_SOURCES
from areafetch.config import Settings
from areafetch.constants import ALL_QUEUES
from areafetch.db import create_engine
from areafetch.db.area_reads import AreaOverview, recent_areas
from areafetch.db.place_reads import read_connection
from areafetch.errors import ServiceUnavailable
from areafetch.queue import JOB_STATES, Queues
from areafetch.queue.admin import WorkerInfo, connected_workers
from areafetch.ratelimit import Limiter, LimiterStatus, policy_for
from areafetch.redaction import redacted_url
from areafetch.redis import create_client

__all__ = [
    "QueueStatus",
    "StatusReport",
    "collect_status",
    "render_status",
    "render_status_json",
    "run_status",
]


@dataclass(frozen=True, slots=True)
class QueueStatus:
    name: str
    counts: dict[str, int]


@dataclass(slots=True)
class StatusReport:
    """Everything `areafetch status` shows; `problems` names the services that could not be read."""

    queues: list[QueueStatus] = field(default_factory=list)
    workers: list[WorkerInfo] = field(default_factory=list)
    limiters: list[LimiterStatus] = field(default_factory=list)
    areas: list[AreaOverview] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    redis_read: bool = False
    database_read: bool = False


# --- reading ----------------------------------------------------------------------------------


async def collect_status(settings: Settings, *, areas_limit: int = 10) -> StatusReport:
    """Read queue counts, workers and limiter state from Redis and the newest areas from PostgreSQL."""
    report = StatusReport()
    redis_part = _read_redis(settings, report)
    database_part = _read_database(settings, report, areas_limit=areas_limit)
    await asyncio.gather(redis_part, database_part)
    return report


async def _read_redis(settings: Settings, report: StatusReport) -> None:
    queues = Queues(settings, connection_retries=1)
    client = create_client(settings.redis_url, socket_timeout_s=settings.redis_socket_timeout_s, retries=1)
    try:
        for name in ALL_QUEUES:
            queue = queues.get(name)
            counts = await queue.getJobCounts(*JOB_STATES)
            report.queues.append(QueueStatus(name, {k: int(v) for k, v in counts.items()}))
        report.workers = await connected_workers(queues)
        for upstream in RATE_LIMITED_SOURCES:
            limiter = Limiter(
                client, upstream, policy_for(settings, upstream), namespace=settings.limiter_namespace
            )
            report.limiters.append(await limiter.status())
        report.redis_read = True
    except (RedisError, OSError, ServiceUnavailable) as exc:
        report.problems.append(f"redis {redacted_url(settings.redis_url)}: {type(exc).__name__}: {exc}")
    finally:
        await queues.close()
        await client.aclose()


async def _read_database(settings: Settings, report: StatusReport, *, areas_limit: int) -> None:
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with read_connection(engine) as conn:
            report.areas.extend(await recent_areas(conn, limit=areas_limit))
        report.database_read = True
    except ServiceUnavailable as exc:
        report.problems.append(f"postgresql {redacted_url(settings.database_url)}: {exc.detail}")
    finally:
        await engine.dispose()


# --- showing ----------------------------------------------------------------------------------


_UNBOUNDED = 100_000


@dataclass(frozen=True, slots=True)
class _Section:
    """One titled table of the report as plain text cells; the first column names each row."""

    title: str
    columns: tuple[tuple[str, JustifyMethod], ...]
    rows: Sequence[tuple[str, ...]]
    empty: str | None = None


def render_status(report: StatusReport, console: Console) -> None:
    """Print the report as tables: queues, limiters, workers, recent areas, then any problems.

    Each table is laid out to fit the console's width without cutting a header or a figure: as a
    table when it fits, else turned on its side (one column per row), else one block per row.
    A service that could not be read gets no (empty, misleading) tables, only its problem line.
    """
    sections: list[_Section] = []
    if report.redis_read:
        sections += [_queues_section(report), _limiters_section(report), _workers_section(report)]
    if report.database_read:
        sections.append(_areas_section(report))
    for section in sections:
        console.print(_fitted(section, console))
    for problem in report.problems:
        console.print(f"[bold red]unavailable:[/] {escape(problem)}", highlight=False)


def render_status_json(report: StatusReport) -> str:
    """The report as one JSON document, for scripts."""
    return _REPORT_JSON.dump_json(report, indent=2).decode()


def _fitted(section: _Section, console: Console) -> Table:
    unbounded = console.options.update_width(_UNBOUNDED)  # measured at the console's width, all fits
    for layout in (_wide, _turned):
        table = layout(section)
        if Measurement.get(console, unbounded, table).maximum <= console.width:
            return table
    return _stacked(section)


def _wide(section: _Section) -> Table:
    table = Table(title=section.title, caption=None if section.rows else section.empty)
    for name, justify in section.columns:
        table.add_column(name, justify=justify)
    for row in section.rows:
        table.add_row(*row)
    return table


def _turned(section: _Section) -> Table:
    table = Table(title=section.title)
    table.add_column(section.columns[0][0])
    for row in section.rows:
        table.add_column(row[0], justify="right")
    for index, (name, _) in enumerate(section.columns[1:], start=1):
        table.add_row(name, *(row[index] for row in section.rows))
    return table


def _stacked(section: _Section) -> Table:
    table = Table(title=section.title, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for row in section.rows:
        for (name, _), value in zip(section.columns, row, strict=True):
            table.add_row(name, value)
        table.add_section()
    return table


def _queues_section(report: StatusReport) -> _Section:
    columns: list[tuple[str, JustifyMethod]] = [("queue", "left")]
    columns += [(state, "right") for state in JOB_STATES]
    columns.append(("workers", "right"))
    rows = [
        (queue.name, *(str(queue.counts.get(s, 0)) for s in JOB_STATES), str(_serving(report, queue.name)))
        for queue in report.queues
    ]
    return _Section("queues", tuple(columns), rows)


def _serving(report: StatusReport, queue: str) -> int:
    return sum(queue in worker.queues for worker in report.workers)


def _limiters_section(report: StatusReport) -> _Section:
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("limiter", "left"),
        ("next slot in", "right"),
        ("in flight", "right"),
        ("paused until", "left"),
        ("requests today", "right"),
        ("budget left", "right"),
        ("bytes today", "right"),
    )
    rows = []
    for status in report.limiters:
        paused = "-" if status.paused_until is None else f"{_clock(status.paused_until)} ({_in(status)})"
        left = "unlimited" if status.requests_left is None else f"{status.requests_left:,}"
        if status.budget_exhausted:
            left = f"[bold red]{left} (exhausted)[/]"
        rows.append(
            (
                status.name,
                f"{status.next_slot_in_s:.2f} s",
                f"{status.in_flight}/{status.max_in_flight}",
                paused,
                f"{status.requests_today:,}",
                left,
                f"{status.bytes_today:,}",
            )
        )
    return _Section("rate limiters", columns, rows)


def _in(status: LimiterStatus) -> str:
    assert status.paused_until is not None
    return f"in {(status.paused_until - status.server_time).total_seconds():.1f} s"


def _workers_section(report: StatusReport) -> _Section:
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("queue", "left"),
        ("worker", "left"),
        ("connections", "right"),
        ("connected (s)", "right"),
        ("idle (s)", "right"),
    )
    rows = [
        (queue.name, worker.name, str(worker.connections), str(worker.age_s), str(worker.idle_s))
        for queue in report.queues
        for worker in report.workers
        if queue.name in worker.queues
    ]
    return _Section("workers", columns, rows, empty="no worker connected")


def _areas_section(report: StatusReport) -> _Section:
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("area", "left"),
        ("name", "left"),
        ("state", "left"),
        ("tiles", "right"),
        ("places", "right"),
        ("calls", "right"),
        ("created", "left"),
        ("sources", "left"),
        ("categories", "left"),
    )
    rows = []
    for area in report.areas:
        state = area.state
        if area.state == "failed" and area.failed_reason:
            state = f"failed: {area.failed_reason[:60]}"
        rows.append(
            (
                str(area.id),
                escape(area.name),
                escape(state),
                f"{area.tiles_done}/{area.tiles_total}",
                "-" if area.places_total is None else str(area.places_total),
                str(area.upstream_calls),
                _clock(area.created_at),
                ", ".join(area.sources),
                ", ".join(area.categories),
            )
        )
    return _Section("recent areas", columns, rows, empty="no areas yet")


def _clock(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


_REPORT_JSON = TypeAdapter(StatusReport)


# --- the command ------------------------------------------------------------------------------


def run_status(
    settings: Settings, *, console: Console | None = None, areas_limit: int = 10, as_json: bool = False
) -> int:
    """Print queues, limiters, workers and recent areas (as tables, or as JSON); 0 when everything
    could be read, else 1."""
    report = asyncio.run(collect_status(settings, areas_limit=areas_limit))
    if as_json:
        print(render_status_json(report))
    else:
        render_status(report, console or Console())
    return 1 if report.problems else 0
