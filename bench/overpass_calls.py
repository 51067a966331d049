"""Overpass calls per area: areafetch's adaptive cells against OSMnx, on one generated region.

The region (`tests/fakes/region.py`): ~3,090 km², 33,000 cafes and restaurants (60 % around a
city centre, sigma = 5 km; the rest spread evenly) and 40,000 trees that a spatial query reads but does
not return. The fake Overpass (`tests/fakes/overpass.py`, its own process) serves it with its cost
model (`OverpassSettings.costed`: time per element scanned and printed, memory per element,
`[timeout:]`/`[maxsize:]` remarks, 2 slots with a cool-down, 429 when none is free), its model
time shrunk by `TIME_SCALE`. Everyone asks for `amenity` in (cafe, restaurant) inside the same
polygon (the region's bbox):

- areafetch, as in production: the web app (in this process) and one `areafetch worker` process,
  default planning and limiter settings (0.5 calls/s, 1 in flight), PostgreSQL and Redis of
  their own. Runs: the region (first area), the same region again (second area), a city-sized area
  around the centre; and the region again with a tight `[maxsize:]` (16 MiB) so cells must split,
  then once more.
- OSMnx 2.1.1 `features_from_polygon`, pointed at the fake (`ox.settings.overpass_url`), its status
  checks on (`overpass_rate_limit`), no cache.
- the old fixed grid: the pre-issue-12 plan (global grid, tiles of at most 25 km²), each tile's query
  sent once and clipped by centre, as the old fetch job did: the places every run must equal.

Measured per run, from the fake's log: calls to `/api/interpreter` (and to `/api/status`), those
answered with a remark, 429s, bytes, the server's model time, and the wall time.

    python -m bench overpass_calls

Takes about a minute and a half.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import shapely
from sqlalchemy import delete
from tests.fakes._server import RequestRecord
from tests.fakes.fixtures import TEST_USER_AGENT
from tests.fakes.overpass import OverpassFake, OverpassSettings
from tests.fakes.region import RegionSpec, write_region
from tests.helpers import ChildProcess, area_client, eventually, settings_env

from areafetch.config import Settings
from areafetch.db import create_engine
from areafetch.db.tables import place_density
from areafetch.geo import parse_area, tile_area
from areafetch.providers.overpass import build_query
from bench._infra import bench_database, claimed_redis_db
from bench._report import Figure, Report, at_most, save

TIME_SCALE = 0.05  # a 6 s query of the model runs 0.3 s
CATEGORIES = ["cafe", "restaurant"]
OSMNX_TAGS: dict[str, bool | str | list[str]] = {"amenity": ["cafe", "restaurant"]}
OLD_TILE_KM2 = 25.0
TIGHT_MAXSIZE = 16 * 2**20
CITY_HALF_SIDE_DEG = (0.11, 0.055)  # ~12 km x 12 km around the centre
LOGS = Path(__file__).parent / "results" / "overpass_calls-logs"


@dataclass(frozen=True)
class Run:
    who: str
    calls: int
    status_calls: int
    remarks: int
    status_429: int
    bytes: int
    server_s: float
    wall_s: float
    places: int
    splits: int
    identical_to_old_grid: bool | None


def _run_from(
    who: str, records: list[RequestRecord], wall_s: float, places: set[str], splits: int, old: set[str] | None
) -> Run:
    queries = [r for r in records if r.path == "/api/interpreter"]
    return Run(
        who=who,
        calls=len(queries),
        status_calls=sum(1 for r in records if r.path == "/api/status"),
        remarks=sum(1 for r in queries if r.outcome.startswith("remark")),
        status_429=sum(1 for r in queries if r.status == 429),
        bytes=sum(int(r.detail.get("bytes", 0)) for r in queries),
        server_s=sum(float(r.detail.get("run_s", 0.0)) for r in queries),
        wall_s=wall_s,
        places=len(places),
        splits=splits,
        identical_to_old_grid=None if old is None else places == old,
    )


# --- the old fixed grid ----------------------------------------------------------------------------


def _old_grid_places(fake: OverpassFake, area: Any, records: list[Run]) -> set[str]:
    tiles = tile_area(area, max_tile_km2=OLD_TILE_KM2)
    found: set[str] = set()
    since = fake.requests[-1].seq if fake.requests else 0
    started = time.monotonic()
    with httpx.Client(headers={"User-Agent": TEST_USER_AGENT}, timeout=120) as client:
        for tile in tiles:
            query = build_query(tile.geometry(), CATEGORIES, timeout_s=25, maxsize_bytes=64 * 2**20)
            while True:
                response = client.post(fake.interpreter_url, data={"data": query})
                if response.status_code != 429:
                    break
                time.sleep(0.2)  # a slot is cooling down: the old client's limiter would have waited
            body = response.json()
            assert "remark" not in body, body["remark"]
            for element in body["elements"]:
                if area.covers(shapely.Point(element["lon"], element["lat"])):
                    found.add(f"{element['type']}/{element['id']}")
    wall = time.monotonic() - started
    run = _run_from("old fixed grid (25 km² tiles)", fake.requests_since(since), wall, found, 0, None)
    records.append(run)
    return found


# --- OSMnx -------------------------------------------------------------------------------------------


def _osmnx(fake: OverpassFake, area: Any, old: set[str], records: list[Run]) -> None:
    import osmnx as ox

    ox.settings.overpass_url = f"{fake.url}/api"
    ox.settings.use_cache = False
    ox.settings.log_console = False
    ox.settings.overpass_rate_limit = True
    since = fake.requests[-1].seq if fake.requests else 0
    started = time.monotonic()
    features = ox.features_from_polygon(area, tags=OSMNX_TAGS)
    wall = time.monotonic() - started
    found = {f"{kind}/{osm_id}" for kind, osm_id in features.index}
    records.append(
        _run_from("OSMnx 2.1.1 features_from_polygon", fake.requests_since(since), wall, found, 0, old)
    )


# --- areafetch -----------------------------------------------------------------------------------------


def _settings(database_url: str, redis_url: str, overpass_url: str, **overrides: Any) -> Settings:
    return Settings(
        environment="test",
        redis_url=redis_url,
        database_url=database_url,
        queue_prefix=f"bench-overpass-{uuid.uuid4().hex[:8]}",
        log_format="json",
        user_agent=TEST_USER_AGENT,
        overpass_url=overpass_url,
        overpass_pause_min_s=2.0,
        **overrides,
    )


async def _areafetch(
    who: str,
    settings: Settings,
    fake: OverpassFake,
    bbox: list[float],
    old: set[str] | None,
    records: list[Run],
) -> None:
    LOGS.mkdir(parents=True, exist_ok=True)
    worker = ChildProcess(["worker"], settings_env(settings), LOGS / f"worker-{len(records)}.log")
    try:
        await worker.wait_for_event("worker.started", timeout_s=60)
        async with area_client(settings) as client:
            since = fake.requests[-1].seq if fake.requests else 0
            started = time.monotonic()
            response = await client.post(
                "/api/areas",
                json={"name": who, "bbox": bbox, "sources": ["overpass"], "categories": CATEGORIES},
            )
            response.raise_for_status()
            area_id = response.json()["area_id"]

            async def finished() -> dict[str, Any] | None:
                area: dict[str, Any] = (await client.get(f"/api/areas/{area_id}")).json()
                return area if area["state"] in {"completed", "failed"} else None

            area = await eventually(finished, timeout_s=600, interval_s=0.05, what=who)
            wall = time.monotonic() - started
            if area["state"] != "completed":
                raise RuntimeError(f"{who}: {area['failed_reason']}")
            places = await _place_ids(client, area_id)
        queries = fake.requests_since(since)
        records.append(_run_from(who, queries, wall, places, _splits(queries), old))
    finally:
        worker.signal()
        try:
            await worker.wait_exit(timeout_s=30)
        except TimeoutError:
            worker.kill()


async def _forget_densities(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(delete(place_density))
    finally:
        await engine.dispose()


def _splits(records: list[RequestRecord]) -> int:
    return sum(1 for r in records if r.path == "/api/interpreter" and r.outcome.startswith("remark"))


async def _place_ids(client: httpx.AsyncClient, area_id: str) -> set[str]:
    response = await client.get(f"/api/areas/{area_id}/places", params={"format": "csv"})
    response.raise_for_status()
    return {row["source_id"] for row in csv.DictReader(io.StringIO(response.text))}


# --- the run ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _region() -> Iterator[tuple[Path, RegionSpec]]:
    spec = RegionSpec()
    with tempfile.TemporaryDirectory(prefix="areafetch-region-") as directory:
        yield write_region(Path(directory) / "region.osm.pbf", spec), spec


def _runs() -> tuple[list[Run], RegionSpec]:
    records: list[Run] = []
    with (
        _region() as (path, spec),
        OverpassFake.running(
            path, in_process=False, settings=OverpassSettings.costed(time_scale=TIME_SCALE)
        ) as fake,
    ):
        region = list(spec.bbox)
        area = parse_area(region, max_area_km2=None)
        old = _old_grid_places(fake, area, records)
        _osmnx(fake, area, old, records)
        lon, lat = spec.centre
        dx, dy = CITY_HALF_SIDE_DEG
        city = [lon - dx, lat - dy, lon + dx, lat + dy]
        with claimed_redis_db() as redis_url, bench_database() as database_url:
            settings = _settings(database_url, redis_url, fake.interpreter_url)
            asyncio.run(_areafetch("areafetch, first area", settings, fake, region, old, records))
            asyncio.run(
                _areafetch("areafetch, second area over the region", settings, fake, region, old, records)
            )
            asyncio.run(_areafetch("areafetch, city-sized area", settings, fake, city, None, records))
            tight = settings.model_copy(update={"overpass_maxsize_bytes": TIGHT_MAXSIZE})
            asyncio.run(_areafetch("areafetch, [maxsize:16 MiB], first", tight, fake, region, old, records))
            asyncio.run(_areafetch("areafetch, [maxsize:16 MiB], second", tight, fake, region, old, records))
            # The places are known (as after an extract), the capacity too, but no density was learned:
            # planning cannot fit the cells, the remarks come, and each is cut where the counted places lie.
            asyncio.run(_forget_densities(database_url))
            asyncio.run(
                _areafetch(
                    "areafetch, [maxsize:16 MiB], places counted, no densities",
                    tight,
                    fake,
                    region,
                    old,
                    records,
                )
            )
    return records, spec


def _table(runs: list[Run], spec: RegionSpec) -> str:
    lines = [
        f"Region {list(spec.bbox)} (~3,090 km²), {spec.places:,} cafes and restaurants "
        f"({spec.centre_share:.0%} around {spec.centre}, sigma {spec.centre_sigma_km:g} km), {spec.clutter:,} trees; "
        f"fake Overpass with its cost model at {TIME_SCALE:g} of real time (server s are model seconds).",
        "",
        "| run | calls | /api/status | remarks | 429 | MB | server s | wall s | places | identical to old grid |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for run in runs:
        same = (
            "—" if run.identical_to_old_grid is None else ("yes" if run.identical_to_old_grid else "**no**")
        )
        lines.append(
            f"| {run.who} | {run.calls} | {run.status_calls} | {run.remarks} | {run.status_429} | "
            f"{run.bytes / 1e6:.2f} | {run.server_s:.1f} | {run.wall_s:.1f} | {run.places:,} | {same} |"
        )
    return "\n".join(lines)


def _figures(runs: list[Run]) -> list[Figure]:
    by = {run.who: run for run in runs}
    first = by["areafetch, first area"]
    second = by["areafetch, second area over the region"]
    city = by["areafetch, city-sized area"]
    osmnx = by["OSMnx 2.1.1 features_from_polygon"]
    tight_second = by["areafetch, [maxsize:16 MiB], second"]
    tight_first = by["areafetch, [maxsize:16 MiB], first"]
    counted = by["areafetch, [maxsize:16 MiB], places counted, no densities"]
    # The counted-split run is a stress case of its own (every planned cell heavy): its remarks are shown
    # in its row, not in the share the region's areas are held to.
    ours = [run for run in runs if run.who.startswith("areafetch") and run is not counted]
    calls = sum(run.calls for run in ours)
    remarks = sum(run.remarks for run in ours)
    rejected = sum(run.status_429 for run in ours)
    identical = all(run.identical_to_old_grid is not False for run in ours)
    return [
        at_most(
            "areafetch calls / OSMnx requests (incl. its /api/status), region",
            first.calls / (osmnx.calls + osmnx.status_calls),
            1.0,
        ),
        Figure("areafetch calls, region (first area)", first.calls, "calls"),
        Figure("OSMnx calls + status checks, region", osmnx.calls + osmnx.status_calls, "calls"),
        at_most("share of areafetch calls answered with a remark", remarks / calls if calls else 0.0, 0.1),
        Figure("429 answers to areafetch", rejected, "calls", "= 0", rejected == 0),
        Figure("places identical to the old fixed grid", 1.0 if identical else 0.0, "bool", "= 1", identical),
        Figure("splits, second area over the region", second.remarks, "splits", "= 0", second.remarks == 0),
        Figure(
            "splits, second area, [maxsize:16 MiB]",
            tight_second.remarks,
            "splits",
            "= 0",
            tight_second.remarks == 0,
        ),
        Figure("calls, city-sized area", city.calls, "calls", "= 1", city.calls == 1),
        Figure(
            "calls (remarks), [maxsize:16 MiB], no densities: quadrants (first) vs cut to the places counted",
            counted.calls,
            "calls",
            f"< {tight_first.calls} (quadrants, {tight_first.remarks} remarks)",
            counted.calls < tight_first.calls,
        ),
    ]


def main() -> Report:
    runs, spec = _runs()
    table = _table(runs, spec)
    print(table)
    data = {"region": asdict(spec), "time_scale": TIME_SCALE, "runs": [asdict(run) for run in runs]}
    return save(Report("overpass_calls", "Overpass calls per area (vs OSMnx)", _figures(runs), table, data))


if __name__ == "__main__":
    main()
