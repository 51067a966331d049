"""Web latency while the workers plan very large areas (issue 7, item 3).

A real `areafetch web` process and two `areafetch worker` processes (default settings: each with
its CPU process pool of one process per core) share this 2-core machine. One client sends a steady,
open-loop stream of requests to the web process (they go out on schedule whatever the server's
pace): ``GET /api/areas/{id}`` at 25/s and ``POST /api/areas`` (a 0.01° bbox, Overpass) at 15/s.
Three pairs of phases, idle then loaded, 15 s each:

- idle: the workers have nothing to do. The web process queues the POSTs' areas under a queue
  prefix of its own that no worker serves: their plan jobs wait in Redis, so that both conditions
  differ only in the big areas.
- loaded: the benchmark also keeps 8 very large areas queued for the workers (a jagged star of
  20,000 vertices, about 89,000 km², which plans into about 4,400 Overpass tiles), inserted
  straight into PostgreSQL and queued the way the web app queues them, so that the web process
  does none of their work. Each is planned in full in a worker's process pool and then refused by
  the per-job cap on upstream calls (default 2,000), so its tiles are neither stored nor fetched:
  the load is the planning itself (Overpass is a local port that refuses connections anyway).

Latency is the time from a request's start in the client to its complete answer. The headline
figures are medians over the three pairs (robust to a stall from outside that hits one phase): the
p99 ratio loaded / idle per route (target <= 1.5) and the idle p99. Also shown: p50, p99, max and
counts per route and condition with all its phases pooled, and each phase with the CPU the workers
(with their pools) and the web process used, which shows that the load was there.

    python -m bench web_latency        (or: python -m bench.web_latency)

Prints Markdown tables and writes bench/results/web_latency.json. Takes about two minutes.
Environment: AREAFETCH_BENCH_REDIS (default redis://127.0.0.1:6379; a free db 1-15 is used),
AREAFETCH_BENCH_POSTGRES (default postgresql://postgres@127.0.0.1:5432).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import func, insert, literal, select
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncEngine
from tests.helpers import ChildProcess, ProcessFactory, settings_env

from areafetch.areas import plan_job_id
from areafetch.config import Settings
from areafetch.db import areas as area_queries
from areafetch.db.engine import create_engine
from areafetch.db.tables import areas
from areafetch.geo import measured_area
from areafetch.queue import Queues, enqueue_area_plan
from bench._infra import bench_database, claimed_redis_db
from bench._report import Figure, Report, at_most, save

PAIRS = 3
PHASES = ("idle", "loaded") * PAIRS  # alternated, so that noise from outside falls on both
PHASE_S = 15.0
GET_RATE_PER_S = 25.0
POST_RATE_PER_S = 15.0
WORKERS = 2
BIG_QUEUED = 8  # very large areas kept queued or planning during a loaded phase
BIG_VERTICES = 20_000
BIG_RADIUS_DEG = 1.5
BIG_NAME = "bench-big"
DRAIN_TIMEOUT_S = 60.0
TARGET_RATIO = 1.5
REQUEST_TIMEOUT_S = 30.0

# Settings beyond the defaults, each needed to run the benchmark at all: the big areas must pass
# the area and vertex caps; one client submits 15 areas a second.
OVERRIDES: dict[str, Any] = {
    "environment": "test",
    "max_area_km2": 200_000.0,
    "max_area_vertices": 100_000,
    "submit_rate_per_s": 10_000.0,
    "submit_burst": 10_000,
    "log_format": "json",
}


@dataclass
class Sample:
    route: str
    phase: int
    condition: str
    started_s: float
    latency_ms: float
    status: int  # 0: no answer (transport error or timeout)


@dataclass
class PhaseLoad:
    phase: int
    condition: str
    big_areas_planned: int = 0
    worker_cpu_s_per_s: float = 0.0
    web_cpu_s_per_s: float = 0.0


@dataclass
class Run:
    settings: Settings
    base_url: str
    engine: AsyncEngine
    queues: Queues
    web: ChildProcess
    workers: list[ChildProcess]
    area_ids: list[uuid.UUID] = field(default_factory=list)
    template_id: uuid.UUID | None = None


# --- the very large area ---------------------------------------------------------------------------


def jagged_star(*, lon: float, lat: float, radius_deg: float, vertices: int) -> dict[str, Any]:
    """A GeoJSON polygon: a circle of `radius_deg` with two ripples on its edge, `vertices` vertices."""
    ring = []
    for i in range(vertices):
        angle = 2 * math.pi * i / vertices
        radius = radius_deg * (1 + 0.15 * math.sin(37 * angle) + 0.075 * math.sin(211 * angle))
        ring.append(
            [lon + radius * math.cos(angle) / math.cos(math.radians(lat)), lat + radius * math.sin(angle)]
        )
    ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


async def store_template(run: Run) -> uuid.UUID:
    """The big area as a finished row: the feeder copies its geometry inside PostgreSQL."""
    geometry, area_km2 = measured_area(
        jagged_star(lon=10.0, lat=50.0, radius_deg=BIG_RADIUS_DEG, vertices=BIG_VERTICES),
        max_vertices=run.settings.max_area_vertices,
        max_area_km2=run.settings.max_area_km2,
    )
    from shapely.geometry import mapping

    template_id = uuid.uuid4()
    async with run.engine.begin() as conn:
        await area_queries.create_area(
            conn,
            area_id=template_id,
            name="bench-template",
            geometry=dict(mapping(geometry)),
            bbox=geometry.bounds,
            area_km2=area_km2,
            sources=["overpass"],
            categories=["restaurant"],
            job_id="none",
        )
        await area_queries.fail_area(conn, area_id=template_id, reason="template, never planned")
    return template_id


async def add_big_areas(run: Run, count: int) -> None:
    assert run.template_id is not None
    for _ in range(count):
        area_id = uuid.uuid4()
        copy = select(
            literal(area_id, UUID(as_uuid=True)).label("id"),
            literal(BIG_NAME).label("name"),
            areas.c.geometry,
            areas.c.bbox,
            areas.c.area_km2,
            areas.c.sources,
            areas.c.categories,
            literal(plan_job_id(area_id)).label("job_id"),
        ).where(areas.c.id == run.template_id)
        columns = ["id", "name", "geometry", "bbox", "area_km2", "sources", "categories", "job_id"]
        async with run.engine.begin() as conn:
            await conn.execute(insert(areas).from_select(columns, copy))
        await enqueue_area_plan(run.queues, area_id)


async def big_areas_pending(run: Run) -> int:
    async with run.engine.connect() as conn:
        statement = select(func.count()).where(
            areas.c.name == BIG_NAME, areas.c.state.in_(("queued", "planning"))
        )
        return int((await conn.execute(statement)).scalar_one())


async def big_areas_finished(run: Run) -> int:
    async with run.engine.connect() as conn:
        statement = select(func.count()).where(
            areas.c.name == BIG_NAME, areas.c.state.not_in(("queued", "planning"))
        )
        return int((await conn.execute(statement)).scalar_one())


async def feed_big_areas(run: Run, stop: asyncio.Event) -> None:
    """Keep `BIG_QUEUED` big areas queued or planning until `stop` is set."""
    while not stop.is_set():
        missing = BIG_QUEUED - await big_areas_pending(run)
        if missing > 0:
            await add_big_areas(run, missing)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=0.25)


async def drain_big_areas(run: Run) -> None:
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while await big_areas_pending(run):
        if time.monotonic() > deadline:
            raise RuntimeError(f"big areas still planning after {DRAIN_TIMEOUT_S:g} s")
        await asyncio.sleep(0.2)


# --- the client ------------------------------------------------------------------------------------


def small_area_body(index: int) -> dict[str, Any]:
    west, south = 8.0 + (index % 100) * 0.02, 48.0 + (index // 100 % 100) * 0.02
    return {
        "name": f"bench-small-{index}",
        "bbox": [west, south, west + 0.01, south + 0.01],
        "sources": ["overpass"],
        "categories": ["restaurant"],
    }


async def timed(
    samples: list[Sample],
    route: str,
    phase: int,
    condition: str,
    send: Callable[[], Awaitable[httpx.Response]],
) -> None:
    started = time.perf_counter()
    try:
        status = (await send()).status_code
    except httpx.HTTPError:
        status = 0
    samples.append(Sample(route, phase, condition, started, (time.perf_counter() - started) * 1000, status))


async def open_loop(
    rate_per_s: float, duration_s: float, offset_s: float, request: Callable[[int], Coroutine[Any, Any, None]]
) -> None:
    """Start `request(i)` at `offset + i / rate` seconds from now, whether earlier ones answered or not."""
    loop = asyncio.get_running_loop()
    start = loop.time() + offset_s
    tasks: list[asyncio.Task[None]] = []
    for index in range(int(rate_per_s * duration_s)):
        delay = start + index / rate_per_s - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(request(index)))
    await asyncio.gather(*tasks)


async def measure_phase(
    run: Run, client: httpx.AsyncClient, phase: int, condition: str, posted: list[int]
) -> list[Sample]:
    samples: list[Sample] = []

    async def get(index: int) -> None:
        area_id = run.area_ids[index % len(run.area_ids)]
        await timed(
            samples, "GET", phase, condition, lambda: client.get(f"{run.base_url}/api/areas/{area_id}")
        )

    async def post(index: int) -> None:
        body = small_area_body(posted[0] + index)
        await timed(
            samples, "POST", phase, condition, lambda: client.post(f"{run.base_url}/api/areas", json=body)
        )

    await asyncio.gather(
        open_loop(GET_RATE_PER_S, PHASE_S, 0.0, get),
        open_loop(POST_RATE_PER_S, PHASE_S, 0.5 / GET_RATE_PER_S, post),
    )
    posted[0] += int(POST_RATE_PER_S * PHASE_S)
    return samples


# --- processes, CPU use ----------------------------------------------------------------------------


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) of these processes and all their descendants, alive ones."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    times = proc.cpu_times()
                    total += times.user + times.system
    return total


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A local port that is bound but never listens: connections to it are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


# --- the run ---------------------------------------------------------------------------------------


async def run_phases(run: Run) -> tuple[list[Sample], list[PhaseLoad]]:
    samples: list[Sample] = []
    loads: list[PhaseLoad] = []
    posted = [0]
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S, limits=limits) as client:
        await warm_up(run, client)
        for phase, condition in enumerate(PHASES):
            stop = asyncio.Event()
            feeder = asyncio.create_task(feed_big_areas(run, stop)) if condition == "loaded" else None
            if feeder is not None:
                await asyncio.sleep(1.0)  # the pools are busy before the first request goes out
            planned_before = await big_areas_finished(run)
            worker_cpu, web_cpu, started = (
                cpu_seconds([w.pid for w in run.workers]),
                cpu_seconds([run.web.pid]),
                time.monotonic(),
            )
            samples += await measure_phase(run, client, phase, condition, posted)
            elapsed = time.monotonic() - started
            load = PhaseLoad(
                phase,
                condition,
                big_areas_planned=await big_areas_finished(run) - planned_before,
                worker_cpu_s_per_s=(cpu_seconds([w.pid for w in run.workers]) - worker_cpu) / elapsed,
                web_cpu_s_per_s=(cpu_seconds([run.web.pid]) - web_cpu) / elapsed,
            )
            loads.append(load)
            print(f"phase {phase} {condition}: {asdict(load)}", flush=True)
            if feeder is not None:
                stop.set()
                await feeder
                await drain_big_areas(run)
            await asyncio.sleep(1.0)
    return samples, loads


async def warm_up(run: Run, client: httpx.AsyncClient) -> None:
    """Areas for the GETs to read (created through the API), and warm connection pools."""
    for index in range(20):
        response = await client.post(f"{run.base_url}/api/areas", json=small_area_body(100_000 + index))
        response.raise_for_status()
        run.area_ids.append(uuid.UUID(response.json()["area_id"]))
    for area_id in run.area_ids * 3:
        (await client.get(f"{run.base_url}/api/areas/{area_id}")).raise_for_status()
    run.template_id = await store_template(run)
    await add_big_areas(run, 2)  # the pools' processes start, the planner's imports load
    await drain_big_areas(run)
    await asyncio.sleep(2.0)


async def execute(
    tmp: Path, database_url: str, redis_url: str
) -> tuple[list[Sample], list[PhaseLoad], dict[str, Any]]:
    tag = uuid.uuid4().hex[:10]
    # The workers' queues and the web process's: no worker serves the web's, so its POSTs' plan
    # jobs wait there and the workers' only work is the big areas.
    worker_prefix, web_prefix = f"bl{tag}w", f"bl{tag}p"
    factory = ProcessFactory(tmp)
    with refused_port() as port:
        settings = Settings(
            redis_url=redis_url,
            database_url=database_url,
            queue_prefix=worker_prefix,
            overpass_url=f"http://127.0.0.1:{port}/api/interpreter",
            **OVERRIDES,
        )
        try:
            workers = [await factory.worker(settings_env(settings)) for _ in range(WORKERS)]
            web_settings = settings.model_copy(update={"queue_prefix": web_prefix})
            web, base_url = await factory.web(settings_env(web_settings))
            engine = create_engine(settings.database_url)
            queues = Queues(settings)
            run = Run(settings, base_url, engine, queues, web, workers)
            try:
                samples, loads = await run_phases(run)
            finally:
                await queues.close()
                await engine.dispose()
        finally:
            factory.kill_all()
    conditions = {
        "database": "own, dropped after",
        "redis": redis_url,
        "workers": WORKERS,
        "cpu_nice": settings.cpu_nice,
        "settings_beyond_defaults": OVERRIDES,
    }
    return samples, loads, conditions


# --- figures ---------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summarise(samples: list[Sample]) -> list[dict[str, Any]]:
    rows = []
    for route in ("GET", "POST"):
        for condition in ("idle", "loaded"):
            chosen = [s for s in samples if s.route == route and s.condition == condition]
            ok = [s.latency_ms for s in chosen if s.status in (200, 202)]
            rows.append(
                {
                    "route": route,
                    "condition": condition,
                    "requests": len(chosen),
                    "ok": len(ok),
                    "other_status": sorted({s.status for s in chosen if s.status not in (200, 202)}),
                    "p50_ms": percentile(ok, 0.50),
                    "p99_ms": percentile(ok, 0.99),
                    "max_ms": max(ok),
                }
            )
    return rows


def per_phase(samples: list[Sample]) -> list[dict[str, Any]]:
    rows = []
    for phase, condition in enumerate(PHASES):
        for route in ("GET", "POST"):
            ok = [
                s.latency_ms
                for s in samples
                if s.phase == phase and s.route == route and s.status in (200, 202)
            ]
            rows.append(
                {
                    "phase": phase,
                    "condition": condition,
                    "route": route,
                    "ok": len(ok),
                    "p50_ms": percentile(ok, 0.50),
                    "p99_ms": percentile(ok, 0.99),
                    "max_ms": max(ok),
                }
            )
    return rows


def pair_ratios(phases: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Per pair of phases (idle, then loaded) and route: loaded p99 / idle p99."""
    p99 = {(row["phase"], row["route"]): row["p99_ms"] for row in phases}
    return {
        route: [p99[(2 * pair + 1, route)] / p99[(2 * pair, route)] for pair in range(PAIRS)]
        for route in ("GET", "POST")
    }


def headline(phases: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Medians over the pairs (robust to a stall from outside that hits one phase): the p99 ratio
    loaded / idle and the idle p99, per route."""
    ratios = pair_ratios(phases)
    return {
        route: {
            "p99_ratio": statistics.median(ratios[route]),
            "idle_p99_ms": statistics.median(
                row["p99_ms"] for row in phases if row["route"] == route and row["condition"] == "idle"
            ),
        }
        for route in ("GET", "POST")
    }


def tables(rows: list[dict[str, Any]], phases: list[dict[str, Any]], loads: list[PhaseLoad]) -> str:
    heads, ratios = headline(phases), pair_ratios(phases)
    lines = [
        f"Open loop, GET {GET_RATE_PER_S:g}/s + POST {POST_RATE_PER_S:g}/s, {PAIRS} pairs of phases (idle, "
        f"loaded) of {PHASE_S:g} s each; loaded: {WORKERS} workers planning areas of {BIG_VERTICES:,} vertices "
        f"(~4,400 tiles each), {BIG_QUEUED} kept queued. Median over the pairs:",
        "",
        "| route | idle p99 (ms) | p99 loaded / idle | per pair |",
        "| --- | ---: | ---: | --- |",
    ]
    lines += [
        f"| {route} | {heads[route]['idle_p99_ms']:.1f} | {heads[route]['p99_ratio']:.2f} | "
        f"{', '.join(f'{ratio:.2f}' for ratio in ratios[route])} |"
        for route in ("GET", "POST")
    ]
    lines += [
        "",
        "All phases of a condition pooled:",
        "",
        "| route | condition | requests | ok | p50 (ms) | p99 (ms) | max (ms) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['route']} | {row['condition']} | {row['requests']} | {row['ok']} | {row['p50_ms']:.1f} | "
            f"{row['p99_ms']:.1f} | {row['max_ms']:.1f} |"
        )
    lines += [
        "",
        "Per phase (CPU: seconds of CPU per second of wall time, the workers with their pools, and the web process):",
        "",
        "| phase | condition | big areas planned | workers CPU | web CPU | GET p50 | GET p99 | POST p50 | POST p99 |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for load in loads:
        by_route = {row["route"]: row for row in phases if row["phase"] == load.phase}
        lines.append(
            f"| {load.phase} | {load.condition} | {load.big_areas_planned} | {load.worker_cpu_s_per_s:.2f} | "
            f"{load.web_cpu_s_per_s:.2f} | {by_route['GET']['p50_ms']:.1f} | {by_route['GET']['p99_ms']:.1f} | "
            f"{by_route['POST']['p50_ms']:.1f} | {by_route['POST']['p99_ms']:.1f} |"
        )
    return "\n".join(lines)


def figures(phases: list[dict[str, Any]]) -> list[Figure]:
    heads = headline(phases)
    return [
        at_most("GET /api/areas/{id} p99, loaded / idle", heads["GET"]["p99_ratio"], TARGET_RATIO),
        at_most("POST /api/areas p99, loaded / idle", heads["POST"]["p99_ratio"], TARGET_RATIO),
        Figure("GET /api/areas/{id} p99, idle", heads["GET"]["idle_p99_ms"], "ms"),
        Figure("POST /api/areas p99, idle", heads["POST"]["idle_p99_ms"], "ms"),
    ]


def main() -> Report:
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="bench-web-latency-") as tmp,
        claimed_redis_db() as redis_url,
        bench_database() as database_url,
    ):
        samples, loads, conditions = asyncio.run(execute(Path(tmp), database_url, redis_url))
    rows, phases = summarise(samples), per_phase(samples)
    table = tables(rows, phases, loads)
    print(table)
    print(f"\n({time.monotonic() - started:.0f} s)")
    data = {
        "conditions": conditions,
        "rates_per_s": {"GET": GET_RATE_PER_S, "POST": POST_RATE_PER_S},
        "phase_s": PHASE_S,
        "summary": rows,
        "phases": phases,
        "load": [asdict(load) for load in loads],
        "headline": headline(phases),
        "pair_ratios": pair_ratios(phases),
    }
    return save(Report("web_latency", "Web latency under worker load", figures(phases), table, data))


if __name__ == "__main__":
    main()
