"""Planning: tiles and circles per second for real country outlines with ~50,000 vertices.

The areas are two real outlines shipped in `bench/data/` (see its README: OpenStreetMap
boundaries from timezone-boundary-builder, not simplified): Switzerland, one polygon of 50,186
vertices with two enclaves as holes (41,288 km²), and Belgium, a MultiPolygon of 22 parts with
13 holes and 52,567 vertices (32,109 km²). Both are beyond the default limits
(`AREAFETCH_MAX_AREA_VERTICES=10000`, `AREAFETCH_MAX_AREA_KM2=10000`), so they are planned with
those raised, as an operator serving country-sized areas would.

Measured for each outline, every step in turn within each repeat (median of `REPEATS`):

- `plan_area(geojson, sources, options)`: the function the worker's plan job sends to its CPU
  pool, from the stored GeoJSON to the `AreaPlan` (validation, geodesic area, tiles, circles,
  the plan's JSON models), for Overpass at 25 km² tiles (the default
  `AREAFETCH_OVERPASS_MAX_TILE_KM2`) and 100 km², for Google (circles only), and for an
  `osm_extract`-only area (the job plans it with no upstream source: the extract is read once
  for the bbox, so only validation is left). Overpass tiles/s = tiles / this time.
- The same call through a real `CpuPool` (one spawned process, warmed up): adds pickling the
  GeoJSON there and the plan back, which is what the job awaits.
- Its parts on their own: `measured_area` (parse and validate), `tile_area`, and
  `cover_with_circles` (Google circles of 50 km, timed `CIRCLE_ROUNDS` times in a row as it
  takes about a millisecond; circles/s = circles / this time).
- `_units`: the job's own conversion of the plan's tiles to stored fetch units, which runs on
  the worker's event loop.

Each step's wall time (the figures) and this process's CPU time (for the `CpuPool` step the work
is in the other process, so none) are recorded; on a busy machine the CPU time is the steadier.

    python -m bench planning        (or: python -m bench.planning)

Prints Markdown tables and writes bench/results/planning.json. Takes about half a minute.
"""

from __future__ import annotations

import asyncio
import gc
import json
import lzma
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import shapely

from areafetch.areas import Source
from areafetch.cpu import CpuPool
from areafetch.geo import (
    AreaPlan,
    PlanOptions,
    cover_with_circles,
    measured_area,
    plan_area,
    tile_area,
    vertex_count,
)
from areafetch.processors.plan import _units
from bench._report import Figure, Report, save

DATA = Path(__file__).parent / "data"
COUNTRIES = (("Switzerland", "switzerland"), ("Belgium", "belgium"))
TILE_SIZES_KM2 = (25.0, 100.0)
REPEATS = 3
CIRCLE_ROUNDS = 20  # one covering takes about a millisecond: timed 20 in a row
MAX_VERTICES = 200_000
MAX_AREA_KM2 = 100_000.0

T = TypeVar("T")


@dataclass
class Outline:
    country: str
    geojson: dict[str, Any]
    vertices: int
    parts: int
    holes: int
    area_km2: float


def load(country: str, stem: str) -> Outline:
    with lzma.open(DATA / f"{stem}.geojson.xz", "rt", encoding="utf-8") as file:
        geojson: dict[str, Any] = json.load(file)
    area, km2 = measured_area(geojson, max_vertices=MAX_VERTICES, max_area_km2=None)
    polygons = shapely.get_parts(area)
    holes = int(shapely.get_num_interior_rings(polygons).sum())
    return Outline(country, geojson, vertex_count(area), len(polygons), holes, km2)


def options(tile_km2: float) -> PlanOptions:
    return PlanOptions(max_vertices=MAX_VERTICES, max_area_km2=MAX_AREA_KM2, max_tile_km2=tile_km2)


def timed(fn: Callable[[], T]) -> tuple[float, float, T]:
    """Wall and CPU seconds of this process (CPU time is what other load on the machine disturbs least).

    Starts from a collected heap, so no step pays for the garbage of the one before it.
    """
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def measure(outline: Outline, pool: CpuPool, loop: asyncio.AbstractEventLoop) -> dict[str, Any]:
    """Every step of one outline, `REPEATS` times each, interleaved; times in seconds."""
    geojson = outline.geojson
    area, _ = measured_area(geojson, max_vertices=MAX_VERTICES, max_area_km2=MAX_AREA_KM2)
    overpass: list[Source] = ["overpass"]
    google: list[Source] = ["google_places"]
    steps: dict[str, Callable[[], Any]] = {
        "parse": lambda: measured_area(geojson, max_vertices=MAX_VERTICES, max_area_km2=MAX_AREA_KM2),
        "circles": lambda: [c for _ in range(CIRCLE_ROUNDS) for c in cover_with_circles(area)],
        "plan google": lambda: plan_area(geojson, google, options(TILE_SIZES_KM2[0])),
        "plan extract": lambda: plan_area(geojson, [], options(TILE_SIZES_KM2[0])),
    }
    for size in TILE_SIZES_KM2:
        steps[f"tiles {size:g}"] = partial(tile_area, area, max_tile_km2=size)
        steps[f"plan overpass {size:g}"] = partial(plan_area, geojson, overpass, options(size))
    default = options(TILE_SIZES_KM2[0])
    steps["pool overpass"] = lambda: loop.run_until_complete(pool.run(plan_area, geojson, overpass, default))
    plan: AreaPlan = plan_area(geojson, overpass, default)
    steps["units"] = lambda: _units(plan, ["overpass"])

    seconds: dict[str, list[float]] = {name: [] for name in steps}
    cpu_seconds: dict[str, list[float]] = {name: [] for name in steps}
    counts: dict[str, int] = {}
    for _ in range(REPEATS):
        for name, step in steps.items():
            elapsed, cpu, result = timed(step)
            seconds[name].append(elapsed)
            cpu_seconds[name].append(cpu)
            if isinstance(result, list):
                counts[name] = len(result)
            elif isinstance(result, AreaPlan) and "overpass" in name:
                counts[name] = len(result.tiles)
            elif isinstance(result, AreaPlan) and "google" in name:
                counts[name] = len(result.circles)
    return {
        "country": outline.country,
        "vertices": outline.vertices,
        "parts": outline.parts,
        "holes": outline.holes,
        "area_km2": outline.area_km2,
        "median_s": {name: statistics.median(values) for name, values in seconds.items()},
        "median_cpu_s": {name: statistics.median(values) for name, values in cpu_seconds.items()},
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "counts": counts,
        "full_tiles": sum(tile.full for tile in plan.tiles),
    }


def _rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}/s"


def tables(results: list[dict[str, Any]]) -> str:
    lines = [
        "| area | vertices (parts, holes) | km² | step | units | median time | units/s | median CPU time |",
        "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    labels = {
        f"plan overpass {TILE_SIZES_KM2[0]:g}": f"`plan_area`, Overpass, {TILE_SIZES_KM2[0]:g} km² tiles",
        f"plan overpass {TILE_SIZES_KM2[1]:g}": f"`plan_area`, Overpass, {TILE_SIZES_KM2[1]:g} km² tiles",
        "pool overpass": f"the same through `CpuPool` ({TILE_SIZES_KM2[0]:g} km², pickling both ways)",
        "plan google": "`plan_area`, Google (50 km circles)",
        "plan extract": "`plan_area`, `osm_extract` only (no upstream source)",
        "parse": "`measured_area` (parse, validate, geodesic area)",
        f"tiles {TILE_SIZES_KM2[0]:g}": f"`tile_area`, {TILE_SIZES_KM2[0]:g} km²",
        f"tiles {TILE_SIZES_KM2[1]:g}": f"`tile_area`, {TILE_SIZES_KM2[1]:g} km²",
        "circles": f"`cover_with_circles`, 50 km, {CIRCLE_ROUNDS} in a row",
        "units": "the job's `_units` (tiles to fetch units, event loop)",
    }
    for result in results:
        head = f"{result['country']} | {result['vertices']:,} ({result['parts']}, {result['holes']}) | {result['area_km2']:,.0f}"
        for name, label in labels.items():
            seconds = result["median_s"][name]
            count = result["counts"].get(name)
            units = "" if count is None else f"{count:,}"
            rate = "" if count is None else _rate(count, seconds)
            cpu = "" if name == "pool overpass" else f"{result['median_cpu_s'][name] * 1000:,.0f} ms"
            lines.append(f"| {head} | {label} | {units} | {seconds * 1000:,.0f} ms | {rate} | {cpu} |")
    return "\n".join(lines)


def figures(results: list[dict[str, Any]]) -> list[Figure]:
    size = f"{TILE_SIZES_KM2[0]:g}"
    out: list[Figure] = []
    for result in results:
        country, median, counts = result["country"], result["median_s"], result["counts"]
        tiles, circles = counts[f"plan overpass {size}"], counts["plan google"]
        out += [
            Figure(f"{country}: vertices", result["vertices"], "vertices"),
            Figure(f"{country}: Overpass tiles ({size} km²)", tiles, "tiles"),
            Figure(
                f"{country}: Overpass tiles/s (`plan_area`)",
                tiles / median[f"plan overpass {size}"],
                "tiles/s",
            ),
            Figure(f"{country}: `plan_area` time, Overpass", median[f"plan overpass {size}"], "s"),
            Figure(
                f"{country}: `plan_area` CPU time, Overpass",
                result["median_cpu_s"][f"plan overpass {size}"],
                "s",
            ),
            Figure(f"{country}: Google circles (50 km)", circles, "circles"),
            Figure(
                f"{country}: Google circles/s (`cover_with_circles`)",
                counts["circles"] / median["circles"],
                "circles/s",
            ),
            Figure(f"{country}: `plan_area` time, Google", median["plan google"], "s"),
        ]
    return out


def main() -> Report:
    started = time.monotonic()
    outlines = [load(country, stem) for country, stem in COUNTRIES]
    pool = CpuPool(max_workers=1)
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(pool.run(plan_area, outlines[0].geojson, ["overpass"], options(100.0)))
        results = [measure(outline, pool, loop) for outline in outlines]
    finally:
        pool.close()
        loop.close()
    table = tables(results)
    print(table)
    print(f"\n({time.monotonic() - started:.0f} s)")
    data = {
        "settings": {
            "tile_sizes_km2": TILE_SIZES_KM2,
            "repeats": REPEATS,
            "max_vertices": MAX_VERTICES,
            "max_area_km2": MAX_AREA_KM2,
        },
        "results": results,
    }
    return save(Report("planning", "Planning a country outline", figures(results), table, data))


if __name__ == "__main__":
    main()
