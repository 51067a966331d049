"""Bulk writes: places per second through areafetch's write path against a plain ``COPY``.

areafetch's write path is `areafetch.db.places.upsert_area_places`: it upserts places on
(source, source_id) and links them to the area, in the caller's transaction (a tile's places and
its `done` mark commit together). The bound is asyncpg's ``copy_records_to_table`` of the same
rows into an empty table of the same shape: ``CREATE TABLE places_copy (LIKE places INCLUDING
ALL)``, i.e. the same columns, defaults (``id`` from the same sequence), primary key and unique
index on (source, source_id). The bound writes no ``area_places`` links, has no conflicts to
resolve and no rows to return, so it is stricter than what areafetch does.

Both sides start from the same ``list[Place]`` (generated, realistic: OSM and Google ids, names,
20 categories, 2-7 attribute keys) and are timed from that list to the commit, so the bound also
pays for turning places into records (attributes as JSON text). Measured, in a fresh database
migrated with the real migrations:

(a) insert: areafetch writes new places into emptied ``places`` / ``area_places``;
(b) re-upsert: areafetch writes the same places again (a re-run tile: every row conflicts);
(c) tiles: the same places as in (a), written the way the worker writes them, one call and one
    transaction per tile of ``TILE_PLACES`` places, into emptied tables;
COPY: the same places into the emptied ``places_copy``.

Each round runs (a), (b), (c) and COPY, in an order that alternates between rounds, with a
CHECKPOINT before every timed step (so no step pays for the previous one's dirty pages). The
ratio is COPY's wall time over areafetch's per round; reported are the medians over rounds (the
headline). Next to it, as a view that other load on the machine disturbs less, the CPU each step
cost this process and the database's PostgreSQL backend (read from /proc, so only when
PostgreSQL runs on this machine; WAL writer and checkpointer are not counted).

    python -m bench bulk_writes        (or: python -m bench.bulk_writes)

Prints a Markdown table and writes bench/results/bulk_writes.json. Takes about 1.5 minutes on an
idle machine. AREAFETCH_BENCH_BULK_PLACES and AREAFETCH_BENCH_BULK_ROUNDS change the size.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from areafetch.areas import Place
from areafetch.db import create_engine
from areafetch.db.engine import driver_connection
from areafetch.db.places import upsert_area_places
from areafetch.db.tables import areas
from bench._infra import bench_database
from bench._report import Figure, Report, at_least, save

PLACES = int(os.environ.get("AREAFETCH_BENCH_BULK_PLACES", "200000"))
ROUNDS = int(os.environ.get("AREAFETCH_BENCH_BULK_ROUNDS", "5"))
TILE_PLACES = 1_000
TARGET = 0.5

COPY_COLUMNS = ("source", "source_id", "name", "category", "lon", "lat", "attributes", "fetched_at")
STEPS = ("insert", "reupsert", "tiles", "copy")
LABELS = {
    "insert": "(a) areafetch insert, one call",
    "reupsert": "(b) areafetch re-upsert, one call (all conflicts)",
    "tiles": f"(c) areafetch insert, tiles of {TILE_PLACES:,} (one transaction each)",
    "copy": "COPY into empty places_copy (bound)",
}

# --- realistic places -----------------------------------------------------------------------------

CATEGORIES = (
    "cafe", "restaurant", "bar", "pub", "fast_food", "bakery", "supermarket", "pharmacy", "bank",
    "atm", "school", "kindergarten", "library", "museum", "hotel", "hostel", "fuel", "parking",
    "clothes", "hairdresser",
)  # fmt: skip
WORDS = (
    "Kahvila", "Ravintola", "Café", "Pub", "Corner", "Green", "Old", "Harbour", "Market", "Sun",
    "Nordic", "Blue", "Kallio", "Töölö", "Punavuori", "Bistro", "Grill", "House", "Garden", "Lähiö",
)  # fmt: skip
STREETS = (
    "Mannerheimintie",
    "Aleksanterinkatu",
    "Fredrikinkatu",
    "Hämeentie",
    "Bulevardi",
    "Iso Roobertinkatu",
)
OPENING_HOURS = ("Mo-Fr 08:00-18:00", "Mo-Su 10:00-22:00", "24/7", "Mo-Sa 09:00-21:00; Su 12:00-18:00")


def _attributes(rng: random.Random, category: str, index: int) -> dict[str, Any]:
    attributes: dict[str, Any] = {"amenity": category}
    optional: list[tuple[str, Any]] = [
        ("opening_hours", rng.choice(OPENING_HOURS)),
        ("addr:street", rng.choice(STREETS)),
        ("addr:housenumber", str(rng.randint(1, 120))),
        ("website", f"https://example.org/p/{index}"),
        ("phone", f"+358 9 {rng.randint(1_000_000, 9_999_999)}"),
        ("wheelchair", rng.choice(("yes", "no", "limited"))),
    ]
    for key, value in rng.sample(optional, rng.randint(1, len(optional))):
        attributes[key] = value
    return attributes


def generate_places(count: int, *, seed: int = 7) -> list[Place]:
    """`count` distinct places, nine in ten from OSM (node/way/relation), one in ten from Google."""
    rng = random.Random(seed)
    places: list[Place] = []
    for index in range(count):
        category = CATEGORIES[index % len(CATEGORIES)]
        if index % 10 == 9:
            source, source_id = "google_places", f"ChIJ{uuid.UUID(int=rng.getrandbits(128)).hex[:23]}"
        else:
            kind = rng.choice(("node", "node", "node", "way", "relation"))
            source, source_id = "overpass", f"{kind}/{1_000_000 + index}"
        name = None if index % 7 == 0 else f"{rng.choice(WORDS)} {rng.choice(WORDS)} {index}"
        places.append(
            Place(
                source=source,
                source_id=source_id,
                name=name,
                category=category,
                lon=round(rng.uniform(24.7, 25.2), 7),
                lat=round(rng.uniform(60.1, 60.3), 7),
                attributes=_attributes(rng, category, index),
            )
        )
    return places


# --- the database ---------------------------------------------------------------------------------


async def prepare(engine: AsyncEngine) -> uuid.UUID:
    """The bound's table, and one area to link places to."""
    area_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.exec_driver_sql("CREATE TABLE places_copy (LIKE places INCLUDING ALL)")
        await conn.execute(
            insert(areas).values(
                id=area_id,
                name="bench",
                geometry={"type": "Polygon", "coordinates": []},
                bbox=[24.7, 60.1, 25.2, 60.3],
                area_km2=300.0,
                sources=["overpass", "google_places"],
                categories=list(CATEGORIES),
            )
        )
    return area_id


async def _settle(engine: AsyncEngine, *tables: str) -> None:
    async with engine.begin() as conn:
        if tables:
            await conn.exec_driver_sql(f"TRUNCATE {', '.join(tables)}")
    async with engine.connect() as conn:
        await conn.exec_driver_sql("CHECKPOINT")


# --- the timed steps ------------------------------------------------------------------------------


async def write_areafetch(
    engine: AsyncEngine, area_id: uuid.UUID, places: list[Place], per_call: int
) -> None:
    for start in range(0, len(places), per_call):
        async with engine.begin() as conn:
            await upsert_area_places(conn, area_id=area_id, places=places[start : start + per_call])


async def write_copy(engine: AsyncEngine, places: list[Place]) -> None:
    async with engine.begin() as conn:
        await conn.exec_driver_sql("SELECT 1")  # begins the transaction on the driver's connection
        raw = await driver_connection(conn)
        fetched_at = datetime.now(UTC)
        dumps = json.JSONEncoder(separators=(",", ":")).encode
        records = [
            (
                place.source,
                place.source_id,
                place.name,
                place.category,
                place.lon,
                place.lat,
                dumps(place.attributes),
                fetched_at,
            )
            for place in places
        ]
        await raw.copy_records_to_table("places_copy", records=records, columns=COPY_COLUMNS)


@dataclass(frozen=True)
class Cost:
    wall_s: float
    cpu_s: float | None  # this process plus the database's backends; None when PostgreSQL is not local


def _backend_cpu_s(pids: list[int]) -> float | None:
    total = 0
    try:
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    except (OSError, IndexError, ValueError):
        return None
    return total / os.sysconf("SC_CLK_TCK")


async def _backends(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as conn:
        rows = await conn.exec_driver_sql(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'"
        )
        return [int(row[0]) for row in rows]


async def _timed(engine: AsyncEngine, step: Callable[[], Awaitable[None]]) -> Cost:
    """Wall time of `step`, and the CPU it cost here and in the backends (a noise-resistant second view)."""
    pids = await _backends(engine)
    server, client, wall = _backend_cpu_s(pids), time.process_time(), time.perf_counter()
    await step()
    wall, client = time.perf_counter() - wall, time.process_time() - client
    server_after = _backend_cpu_s(pids)
    if server is None or server_after is None or set(await _backends(engine)) != set(pids):
        return Cost(wall, None)
    return Cost(wall, client + server_after - server)


async def run_round(
    engine: AsyncEngine, area_id: uuid.UUID, places: list[Place], order: int
) -> dict[str, Cost]:
    """One round: every step once, COPY first or last (by `order`)."""
    costs: dict[str, Cost] = {}

    async def copy() -> None:
        await _settle(engine, "places_copy")
        costs["copy"] = await _timed(engine, lambda: write_copy(engine, places))

    async def areafetch() -> None:
        await _settle(engine, "places", "area_places")
        costs["insert"] = await _timed(engine, lambda: write_areafetch(engine, area_id, places, len(places)))
        await _settle(engine)
        costs["reupsert"] = await _timed(
            engine, lambda: write_areafetch(engine, area_id, places, len(places))
        )
        await _settle(engine, "places", "area_places")
        costs["tiles"] = await _timed(engine, lambda: write_areafetch(engine, area_id, places, TILE_PLACES))

    for part in (copy, areafetch) if order % 2 == 0 else (areafetch, copy):
        await part()
    return costs


async def measure(database_url: str, places: list[Place]) -> list[dict[str, Cost]]:
    engine = create_engine(database_url, pool_size=1)  # one backend, reused by every step
    try:
        area_id = await prepare(engine)
        await write_areafetch(engine, area_id, places[: TILE_PLACES * 5], TILE_PLACES)  # warm up
        await write_copy(engine, places[: TILE_PLACES * 5])
        rounds = []
        for order in range(ROUNDS):
            rounds.append(await run_round(engine, area_id, places, order))
            steps = ", ".join(f"{step} {cost.wall_s:.2f} s" for step, cost in rounds[-1].items())
            print(f"  round {order + 1}: {steps}", flush=True)
        return rounds
    finally:
        await engine.dispose()


# --- the report -----------------------------------------------------------------------------------


def _median(values: list[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return statistics.median(known) if len(known) == len(values) else None


def summarise(rounds: list[dict[str, Cost]], count: int) -> dict[str, dict[str, float | None]]:
    summary: dict[str, dict[str, float | None]] = {}
    for step in STEPS:
        seconds = statistics.median(row[step].wall_s for row in rounds)
        cpu_s = _median([row[step].cpu_s for row in rounds])
        cpu_ratio = _median(
            [_ratio(row["copy"].cpu_s, row[step].cpu_s) for row in rounds],
        )
        summary[step] = {
            "seconds": seconds,
            "places_per_s": count / seconds,
            "ratio_of_copy": statistics.median(row["copy"].wall_s / row[step].wall_s for row in rounds),
            "cpu_us_per_place": None if cpu_s is None else cpu_s / count * 1e6,
            "cpu_ratio_of_copy": cpu_ratio,
        }
    return summary


def _ratio(bound: float | None, ours: float | None) -> float | None:
    return None if bound is None or ours is None else bound / ours


def _cell(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def table(summary: dict[str, dict[str, float | None]], count: int) -> str:
    lines = [
        f"{count:,} places, median of {ROUNDS} interleaved rounds; CPU = this process + PostgreSQL backend",
        "",
        "| write | median s | places/s | ratio of COPY | CPU µs/place | CPU ratio of COPY |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for step in STEPS:
        row = summary[step]
        lines.append(
            f"| {LABELS[step]} | {_cell(row['seconds'], '.2f')} | {_cell(row['places_per_s'], ',.0f')}"
            f" | {_cell(row['ratio_of_copy'], '.3f')} | {_cell(row['cpu_us_per_place'], '.1f')}"
            f" | {_cell(row['cpu_ratio_of_copy'], '.3f')} |"
        )
    return "\n".join(lines)


def _value(summary: dict[str, dict[str, float | None]], step: str, key: str) -> float:
    value = summary[step][key]
    assert value is not None
    return value


def figures(summary: dict[str, dict[str, float | None]]) -> list[Figure]:
    return [
        at_least("insert: areafetch / COPY", _value(summary, "insert", "ratio_of_copy"), TARGET),
        at_least("re-upsert: areafetch / COPY", _value(summary, "reupsert", "ratio_of_copy"), TARGET),
        Figure("areafetch insert", _value(summary, "insert", "places_per_s"), "places/s"),
        Figure("areafetch re-upsert", _value(summary, "reupsert", "places_per_s"), "places/s"),
        Figure(
            f"areafetch insert, tiles of {TILE_PLACES:,}",
            _value(summary, "tiles", "places_per_s"),
            "places/s",
        ),
        Figure("COPY (bound)", _value(summary, "copy", "places_per_s"), "places/s"),
    ]


def main() -> Report:
    started = time.monotonic()
    places = generate_places(PLACES)
    with bench_database() as database_url:
        rounds = asyncio.run(measure(database_url, places))
    summary = summarise(rounds, len(places))
    markdown = table(summary, len(places))
    print(markdown)
    print(f"\n({time.monotonic() - started:.0f} s)")
    data = {
        "places": len(places),
        "tile_places": TILE_PLACES,
        "rounds": [{step: asdict(cost) for step, cost in row.items()} for row in rounds],
        "summary": summary,
    }
    return save(Report("bulk_writes", "Bulk writes of places", figures(summary), markdown, data))


if __name__ == "__main__":
    main()
