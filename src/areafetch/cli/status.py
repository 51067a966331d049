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

from areafetch.config import Settings
from areafetch.constants import ALL_QUEUES
from areafetch.db import create_engine
from areafetch.db.area_reads import AreaOverview, recent_areas
from areafetch.db.engine import connection
from areafetch.errors import ServiceUnavailable
from areafetch.queue import JOB_STATES, Queues
from areafetch.queue.admin import WorkerInfo, connected_workers
from areafetch.queue.schedules import RefreshSchedule, refresh_schedules
from areafetch.ratelimit import LimiterStatus
from areafetch.ratelimit.pools import deployment_limiters
from areafetch.redaction import redacted_url
from areafetch.redis import client_for

__all__ = [
    "QueueStatus",
    "StatusReport",
    "collect_status",
    "render_status",
    "run_status",
    "status_json",
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
    schedules: list[RefreshSchedule] = field(default_factory=list)
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
    client = client_for(settings, retries=1)
    try:
        for name in ALL_QUEUES:
            queue = queues.get(name)
            counts = await queue.getJobCounts(*JOB_STATES)
            report.queues.append(QueueStatus(name, {k: int(v) for k, v in counts.items()}))
        report.workers = await connected_workers(queues)
        report.schedules = await refresh_schedules(queues)
        for limiter in deployment_limiters(client, settings).values():
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
        async with connection(engine) as conn:
            report.areas.extend(await recent_areas(conn, limit=areas_limit))
        report.database_read = True
    except ServiceUnavailable as exc:
        report.problems.append(f"postgresql {redacted_url(settings.database_url)}: {exc.detail}")
    finally:
        await engine.dispose()


# --- showing ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Section:
    """One table's content, laid out by `_print_section` to the terminal's width."""

    title: str
    columns: tuple[tuple[str, JustifyMethod], ...]
    rows: Sequence[tuple[str, ...]]
    caption: str | None = None


def render_status(report: StatusReport, console: Console) -> None:
    """Print the report: queues, limiters, workers, recent areas, then any problems.

    A service that could not be read gets no (empty, misleading) tables, only its problem line.
    Each table is printed as a table when it fits the terminal; otherwise it is turned (one column
    per item) or stacked (one block of `field value` lines per item), so no figure is ever cut.
    """
    sections: list[_Section] = []
    if report.redis_read:
        sections += [_queues_section(report), _limiters_section(report), _workers_section(report)]
        if report.schedules:
            sections.append(_schedules_section(report))
    if report.database_read:
        sections.append(_areas_section(report))
    for section in sections:
        _print_section(section, console)
    for problem in report.problems:
        console.print(f"[bold red]unavailable:[/] {escape(problem)}", highlight=False)


def _print_section(section: _Section, console: Console) -> None:
    for layout in (_as_table, _as_turned_table):
        table = layout(section)
        if table is not None and _fits(table, console):
            console.print(table)
            return
    console.print(_as_stack(section))


def _fits(table: Table, console: Console) -> bool:
    unbounded = console.options.update_width(10_000)  # the width it wants, not what it would shrink to
    return Measurement.get(console, unbounded, table).maximum <= console.width


def _as_table(section: _Section) -> Table:
    table = Table(title=section.title, caption=section.caption)
    for name, justify in section.columns:
        table.add_column(name, justify=justify, no_wrap=True)
    for row in section.rows:
        table.add_row(*row)
    return table


def _as_turned_table(section: _Section) -> Table | None:
    """Fields as rows and items as columns: narrow when there are few items with many fields."""
    if not section.rows or len(section.rows) > 4:
        return None
    first, *fields = section.columns
    table = Table(title=section.title, caption=section.caption)
    table.add_column(first[0], no_wrap=True)
    for row in section.rows:
        table.add_column(row[0], justify="right", no_wrap=True)
    for index, (name, _) in enumerate(fields, start=1):
        table.add_row(name, *(row[index] for row in section.rows))
    return table


def _as_stack(section: _Section) -> Table:
    """One block per item, a `field value` line per column; long values wrap, never shorten."""
    grid = Table.grid(padding=(0, 2))
    grid.title = section.title
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for number, row in enumerate(section.rows):
        if number:
            grid.add_row("", "")
        for (name, _), value in zip(section.columns, row, strict=True):
            grid.add_row(name, value)
    if section.caption:
        grid.add_row("", section.caption)
    return grid


def _queues_section(report: StatusReport) -> _Section:
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("queue", "left"),
        *((state, "right") for state in JOB_STATES),
        ("workers", "right"),
    )
    rows = [
        (queue.name, *(str(queue.counts.get(s, 0)) for s in JOB_STATES), str(_serving(report, queue.name)))
        for queue in report.queues
    ]
    return _Section("queues", columns, rows)


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
    return _Section("workers", columns, rows, caption=None if report.workers else "no worker connected")


def _schedules_section(report: StatusReport) -> _Section:
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("area", "left"),
        ("every", "left"),
        ("next run", "left"),
    )
    rows = [
        (str(s.area_id), escape(s.every), "-" if s.next_at is None else _clock(s.next_at))
        for s in report.schedules
    ]
    return _Section("refresh schedules", columns, rows)


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
        if area.state in ("failed", "partial") and area.failed_reason:
            state = f"{area.state}: {area.failed_reason[:60]}"
        if area.run > 1:
            state = f"run {area.run} {state}"
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
    return _Section("recent areas", columns, rows, caption=None if report.areas else "no areas yet")


def _clock(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def status_json(report: StatusReport) -> str:
    """The report as JSON for scripts: the same figures as the tables, unformatted."""
    return _REPORT_JSON.dump_json(report, indent=2).decode()


_REPORT_JSON = TypeAdapter(StatusReport)


# --- the command ------------------------------------------------------------------------------


def run_status(
    settings: Settings, *, console: Console | None = None, areas_limit: int = 10, as_json: bool = False
) -> int:
    """Print queues, limiters, workers and recent areas; 0 when everything could be read, else 1."""
    report = asyncio.run(collect_status(settings, areas_limit=areas_limit))
    console = console or Console()
    if as_json:
        console.print_json(status_json(report))
    else:
        render_status(report, console)
    return 1 if report.problems else 0
