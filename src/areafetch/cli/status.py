"""`areafetch status`: queues, rate limiters, workers and recent areas, read straight from Redis and PostgreSQL.

It reads the shared state itself (the same modules the web app and workers use) rather than
asking the web app, so it also works when no web app runs. A service that cannot be reached is
reported and the rest is still shown; the exit code is then 1.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

from redis.exceptions import RedisError
from rich.console import Console, JustifyMethod
from rich.markup import escape
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


def render_status(report: StatusReport, console: Console) -> None:
    """Print the report as tables: queues, limiters, workers, recent areas, then any problems.

    A service that could not be read gets no (empty, misleading) tables, only its problem line.
    """
    tables: list[Table] = []
    if report.redis_read:
        tables += [_queues_table(report), _limiters_table(report), _workers_table(report)]
    if report.database_read:
        tables.append(_areas_table(report))
    for table in tables:
        console.print(table)
    for problem in report.problems:
        console.print(f"[bold red]unavailable:[/] {escape(problem)}", highlight=False)


def _queues_table(report: StatusReport) -> Table:
    table = Table(title="queues")
    table.add_column("queue")
    for state in JOB_STATES:
        table.add_column(state, justify="right")
    table.add_column("workers", justify="right")
    for queue in report.queues:
        table.add_row(
            queue.name, *(str(queue.counts.get(s, 0)) for s in JOB_STATES), str(_serving(report, queue.name))
        )
    return table


def _serving(report: StatusReport, queue: str) -> int:
    return sum(queue in worker.queues for worker in report.workers)


def _limiters_table(report: StatusReport) -> Table:
    table = Table(title="rate limiters")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("limiter", "left"),
        ("next slot in", "right"),
        ("in flight", "right"),
        ("paused until", "left"),
        ("requests today", "right"),
        ("budget left", "right"),
        ("bytes today", "right"),
    )
    for column, justify in columns:
        table.add_column(column, justify=justify)
    for status in report.limiters:
        paused = "-" if status.paused_until is None else f"{_clock(status.paused_until)} ({_in(status)})"
        left = "unlimited" if status.requests_left is None else f"{status.requests_left:,}"
        if status.budget_exhausted:
            left = f"[bold red]{left} (exhausted)[/]"
        table.add_row(
            status.name,
            f"{status.next_slot_in_s:.2f} s",
            f"{status.in_flight}/{status.max_in_flight}",
            paused,
            f"{status.requests_today:,}",
            left,
            f"{status.bytes_today:,}",
        )
    return table


def _in(status: LimiterStatus) -> str:
    assert status.paused_until is not None
    return f"in {(status.paused_until - status.server_time).total_seconds():.1f} s"


def _workers_table(report: StatusReport) -> Table:
    table = Table(title="workers")
    for column in ("queue", "worker", "connections", "connected (s)", "idle (s)"):
        table.add_column(column, justify="left" if column in ("queue", "worker") else "right")
    for queue in report.queues:
        for worker in report.workers:
            if queue.name in worker.queues:
                table.add_row(
                    queue.name, worker.name, str(worker.connections), str(worker.age_s), str(worker.idle_s)
                )
    if not report.workers:
        table.caption = "no worker connected"
    return table


def _areas_table(report: StatusReport) -> Table:
    table = Table(title="recent areas")
    table.add_column("area", no_wrap=True, min_width=36)  # ids are copied from here: never cut them
    for column in ("name", "state", "tiles", "places", "calls", "created", "sources", "categories"):
        table.add_column(column, justify="right" if column in ("tiles", "places", "calls") else "left")
    for area in report.areas:
        state = area.state
        if area.state == "failed" and area.failed_reason:
            state = f"failed: {area.failed_reason[:60]}"
        table.add_row(
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
    if not report.areas:
        table.caption = "no areas yet"
    return table


def _clock(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


# --- the command ------------------------------------------------------------------------------


def run_status(settings: Settings, *, console: Console | None = None, areas_limit: int = 10) -> int:
    """Print queues, limiters, workers and recent areas; 0 when everything could be read, else 1."""
    report = asyncio.run(collect_status(settings, areas_limit=areas_limit))
    render_status(report, console or Console())
    return 1 if report.problems else 0
