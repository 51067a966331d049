"""The area pipeline: plan an area into tiles, fetch each tile from its source, finalise the summary.

A tile's places and its `done` mark are written in one transaction, so a crash never leaves a
tile half written, and a retried job finds a finished tile and does not fetch it again.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from bullmq import UnrecoverableError

from areafetch.constants import AREAS_QUEUE
from areafetch.db import areas as area_queries
from areafetch.db.places import upsert_area_places
from areafetch.errors import AreafetchError, InvalidArea, UpstreamRejected, UpstreamThrottled
from areafetch.geo import (
    AreaPlan,
    Circle,
    PlannedSource,
    PlanOptions,
    Tile,
    contains_many,
    parse_area,
    plan_area,
    split_circle,
)
from areafetch.jobs import (
    FETCH_TILE_SPEC,
    FINALISE_AREA_SPEC,
    AreaRef,
    AreaSummary,
    FetchTilePayload,
    FetchTileResult,
    PlanAreaResult,
)
from areafetch.log import get_logger
from areafetch.metrics import PLACES_WRITTEN
from areafetch.processors.base import JobContext
from areafetch.processors.overpass_cells import CellTooHeavy, fetch_overpass_cells
from areafetch.processors.overpass_learning import fit_planned_cells
from areafetch.providers import TileTooLarge, extract_place_chunks
from areafetch.providers.base import Place
from areafetch.providers.overpass import CellPlaces
from areafetch.queue import default_job_options

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["fetch_tile", "finalise_area", "plan_area_job"]

log = get_logger("areafetch.areas")

EXTRACT_TILE_ID = "all"
_THROTTLED_RETRIES = 4

T = TypeVar("T")


# --- plan -----------------------------------------------------------------------------------------


async def plan_area_job(payload: AreaRef, ctx: JobContext) -> PlanAreaResult:
    """Cut the area into tiles, check the call budget, store the tiles, add the fetch flow."""
    settings = ctx.resources.settings
    area = await _load_area(ctx, payload.area_id)
    sources: list[str] = list(area["sources"])
    try:
        async with ctx.resources.engine.begin() as conn:
            fresh = await area_queries.start_planning(conn, area_id=payload.area_id)
        options = PlanOptions(
            max_vertices=settings.max_area_vertices,
            max_area_km2=settings.max_area_km2,
            max_tile_km2=settings.overpass_max_tile_km2,
        )
        planned_sources = cast(
            "list[PlannedSource]", [source for source in sources if source != "osm_extract"]
        )
        calls, units = await ctx.resources.cpu.run(
            plan_fetch_units, area["geometry"], planned_sources, sources, options
        )
        units = await fit_planned_cells(units, area["geometry"], area["categories"], ctx)
        calls = _unit_calls(units, calls)
        await _check_budget(ctx, calls)
        if fresh:
            async with ctx.resources.engine.begin() as conn:
                await area_queries.store_plan(conn, area_id=payload.area_id, units=units)
        await _add_flow(ctx, payload.area_id, units)
    except (InvalidArea, _Refused) as exc:
        await _fail(ctx, payload.area_id, str(exc))
        raise UnrecoverableError(str(exc)) from exc
    except Exception as exc:
        if ctx.is_last_attempt:
            await _fail(ctx, payload.area_id, f"planning failed: {exc}")
        raise
    log.info("area.planned", area_id=str(payload.area_id), tiles=len(units), upstream_calls=calls)
    return PlanAreaResult(tiles=len(units), upstream_calls=calls)


class _Refused(AreafetchError):
    """An area needs more upstream calls than it may use."""


FetchUnit = tuple[str, str, dict[str, Any]]


def plan_fetch_units(
    geometry: dict[str, Any], planned: list[PlannedSource], sources: list[str], options: PlanOptions
) -> tuple[dict[str, int], list[FetchUnit]]:
    """Run in the CPU pool: the calls per source and the fetch units, as plain data.

    Plain tuples and dicts, not the `AreaPlan` models (with the whole area): unpickling those cost
    the worker's own process, at normal priority, about 0.2 s for an area of 4,400 tiles.
    """
    plan = plan_area(geometry, planned, options)
    return _calls(plan, sources), _units(plan, sources)


def _calls(plan: AreaPlan, sources: Sequence[str]) -> dict[str, int]:
    """Upstream calls per source, one per fetch job (`_units`): none for a local extract."""
    planned = {"overpass": len(plan.tiles), "google_places": len(plan.circles), "osm_extract": 0}
    return {source: planned[source] for source in sources}


def _units(plan: AreaPlan, sources: Sequence[str]) -> list[FetchUnit]:
    """(source, tile id, geometry) of every fetch job."""
    units: list[FetchUnit] = []
    if "overpass" in sources:
        units += [("overpass", tile.id, tile.model_dump(mode="json")) for tile in plan.tiles]
    if "google_places" in sources:
        units += [("google_places", circle.id, circle.model_dump(mode="json")) for circle in plan.circles]
    if "osm_extract" in sources:
        units.append(("osm_extract", EXTRACT_TILE_ID, {"bbox": list(plan.bbox)}))
    return units


def _unit_calls(units: Sequence[FetchUnit], calls: dict[str, int]) -> dict[str, int]:
    """The planned calls once learning may have cut Overpass cells: one per Overpass unit."""
    if "overpass" not in calls:
        return calls
    return {**calls, "overpass": sum(1 for source, _, _ in units if source == "overpass")}


async def _check_budget(ctx: JobContext, calls: dict[str, int]) -> None:
    settings = ctx.resources.settings
    total = sum(calls.values())
    if total > settings.max_upstream_calls_per_job:
        raise _Refused(
            f"the area needs {total} upstream calls ({_describe(calls)}); "
            f"the per-job cap is {settings.max_upstream_calls_per_job} (AREAFETCH_MAX_UPSTREAM_CALLS_PER_JOB)"
        )
    for source, needed in calls.items():
        limiter = ctx.resources.upstreams.limiters.get(source)
        if limiter is not None and needed and not await limiter.can_afford(needed):
            status = await limiter.status()
            raise _Refused(
                f"the area needs {needed} {source} calls but only {status.requests_left} "
                "are left in today's budget"
            )
    if calls.get("google_places") and ctx.resources.upstreams.google_places is None:
        raise _Refused("google_places needs AREAFETCH_GOOGLE_API_KEY")
    if "osm_extract" in calls and ctx.resources.upstreams.osm_extract_path is None:
        raise _Refused("osm_extract needs AREAFETCH_OSM_EXTRACT_PATH")


def _describe(calls: dict[str, int]) -> str:
    return ", ".join(f"{source} {count}" for source, count in calls.items())


async def _add_flow(
    ctx: JobContext, area_id: uuid.UUID, units: Sequence[tuple[str, str, dict[str, Any]]]
) -> None:
    settings = ctx.resources.settings
    parent_id = f"{area_id}.finalise"
    if await ctx.resources.redis.exists(f"{settings.queue_prefix}:{AREAS_QUEUE}:{parent_id}"):
        return  # a retried plan job: the flow is there already
    child_options = {**default_job_options(settings), "failParentOnFailure": True}
    children = [
        {
            "name": FETCH_TILE_SPEC.name,
            "queueName": AREAS_QUEUE,
            "data": FETCH_TILE_SPEC.dump_payload(
                FetchTilePayload(area_id=area_id, source=source, tile_id=tile_id)
            ),
            "opts": {**child_options, "jobId": f"{area_id}.{source}.{tile_id}"},
        }
        for source, tile_id, _ in units
    ]
    await ctx.resources.flows.add(
        {
            "name": FINALISE_AREA_SPEC.name,
            "queueName": AREAS_QUEUE,
            "data": FINALISE_AREA_SPEC.dump_payload(AreaRef(area_id=area_id)),
            "opts": {**default_job_options(settings), "jobId": parent_id},
            "children": children,
        }
    )


# --- fetch ----------------------------------------------------------------------------------------


@dataclass
class _Tally:
    calls: int = 0
    splits: int = 0


async def fetch_tile(payload: FetchTilePayload, ctx: JobContext) -> FetchTileResult:
    """Fetch one tile from its source, clip to the area, store places and the tile's `done` together."""
    async with ctx.resources.engine.connect() as conn:
        tile = await area_queries.get_tile(
            conn, area_id=payload.area_id, source=payload.source, tile_id=payload.tile_id
        )
        area = await area_queries.get_area(conn, area_id=payload.area_id)
    if tile is None or area is None:
        raise UnrecoverableError(f"no tile {payload.source}/{payload.tile_id} of area {payload.area_id}")
    if tile["state"] == "done":
        return FetchTileResult(
            places=tile["places_found"], upstream_calls=tile["upstream_calls"], splits=0, already_done=True
        )
    tally = _Tally()
    try:
        geometry = parse_area(area["geometry"], max_vertices=10**9, max_area_km2=None)
        categories = tuple(area["categories"])
        if payload.source == "osm_extract":
            written = await _store_extract(payload, tile["geometry"], geometry, categories, ctx)
        elif payload.source == "overpass":
            cells = await fetch_overpass_cells(
                payload,
                geometry,
                categories,
                ctx,
                fetch_cell=lambda cell: _fetch_overpass_cell(cell, categories, ctx),
                clip=lambda found: _clip(found, geometry),
            )
            written, tally.calls, tally.splits = cells.places, cells.calls, cells.splits
        else:
            found = await _fetch(payload.source, tile["geometry"], geometry, categories, ctx, tally)
            async with ctx.resources.engine.begin() as conn:
                written = await upsert_area_places(
                    conn, area_id=payload.area_id, places=_clip(found, geometry)
                )
                await _complete_tile(conn, payload, places_found=written, upstream_calls=tally.calls)
        PLACES_WRITTEN.labels(payload.source).inc(written)
    except (UpstreamRejected, TileTooLarge, InvalidArea) as exc:
        await _fail(ctx, payload.area_id, _tile_reason(payload, exc), tile=(payload.source, payload.tile_id))
        raise UnrecoverableError(_tile_reason(payload, exc)) from exc
    except Exception as exc:
        if ctx.is_last_attempt:
            await _fail(
                ctx, payload.area_id, _tile_reason(payload, exc), tile=(payload.source, payload.tile_id)
            )
        raise
    return FetchTileResult(places=written, upstream_calls=tally.calls, splits=tally.splits)


def _tile_reason(payload: FetchTilePayload, exc: BaseException) -> str:
    return f"{payload.source} tile {payload.tile_id}: {type(exc).__name__}: {exc}"


async def _complete_tile(
    conn: AsyncConnection, payload: FetchTilePayload, *, places_found: int, upstream_calls: int
) -> None:
    await area_queries.complete_tile(
        conn,
        area_id=payload.area_id,
        source=payload.source,
        tile_id=payload.tile_id,
        places_found=places_found,
        upstream_calls=upstream_calls,
    )


async def _store_extract(
    payload: FetchTilePayload, unit: dict[str, Any], area: Any, categories: tuple[str, ...], ctx: JobContext
) -> int:
    """Stream the extract's places into the database chunk by chunk, in one transaction with the
    tile's `done` mark: memory stays bounded however many places the area holds."""
    path = ctx.resources.upstreams.osm_extract_path
    if path is None:
        raise UpstreamRejected("osm_extract needs AREAFETCH_OSM_EXTRACT_PATH")
    west, south, east, north = unit["bbox"]
    chunks = extract_place_chunks(ctx.resources.cpu, str(path), (west, south, east, north), categories)
    written = 0
    count = 0
    async with contextlib.aclosing(chunks):
        # The first chunk before the transaction: a job waiting for the CPU pool holds no
        # connection (32 such jobs per worker exhausted PostgreSQL's connections).
        chunk = await anext(chunks, None)
        async with ctx.resources.engine.begin() as conn:
            while chunk is not None:
                # Each element of the extract comes once, so the chunks' places are distinct.
                written += await upsert_area_places(conn, area_id=payload.area_id, places=_clip(chunk, area))
                count += 1
                log.debug("extract.chunk_written", chunk=count, places=written)
                chunk = await anext(chunks, None)
            await _complete_tile(conn, payload, places_found=written, upstream_calls=0)
    log.info("extract.stored", places=written, chunks=count)
    return written


async def _fetch(
    source: str, unit: dict[str, Any], area: Any, categories: tuple[str, ...], ctx: JobContext, tally: _Tally
) -> list[Place]:
    max_depth = ctx.resources.settings.max_split_depth
    if source == "google_places":
        return await _fetch_google(Circle.model_validate(unit), area, categories, ctx, tally, max_depth)
    raise UnrecoverableError(f"unknown source {source!r}")


async def _fetch_overpass_cell(
    tile: Tile, categories: tuple[str, ...], ctx: JobContext
) -> tuple[CellPlaces, int]:
    tally = _Tally()
    try:
        found = await _call(
            tally, lambda: ctx.resources.upstreams.overpass.fetch(tile.geometry(), categories)
        )
    except TileTooLarge as exc:
        raise CellTooHeavy(str(exc), calls=tally.calls) from exc
    return found, tally.calls


async def _fetch_google(
    circle: Circle, area: Any, categories: tuple[str, ...], ctx: JobContext, tally: _Tally, depth_left: int
) -> list[Place]:
    client = ctx.resources.upstreams.google_places
    if client is None:
        raise UpstreamRejected("google_places needs AREAFETCH_GOOGLE_API_KEY")
    result = await _call(
        tally, lambda: client.search_nearby(circle.lon, circle.lat, circle.radius_m, categories)
    )
    if not result.capped:
        return list(result.places)
    if depth_left <= 0:
        log.warning("google.capped_at_max_depth", circle=circle.id, radius_m=circle.radius_m)
        return list(result.places)
    tally.splits += 1
    found = list(result.places)
    for child in split_circle(circle, parts=7, area=area):
        found += await _fetch_google(child, area, categories, ctx, tally, depth_left - 1)
    return found


async def _call(tally: _Tally, request: Callable[[], Awaitable[T]]) -> T:
    """One upstream request; a throttled one is sent again after the shared pause it set (acquire waits
    for it), so a 429 deep in a split tile does not throw away the calls already made for it."""
    for attempt in range(1, _THROTTLED_RETRIES + 1):
        tally.calls += 1
        try:
            return await request()
        except UpstreamThrottled:
            if attempt == _THROTTLED_RETRIES:
                raise
    raise AssertionError("unreachable")


def _clip(found: list[Place], area: Any) -> list[Place]:
    if not found:
        return []
    inside = contains_many(area, [place.lon for place in found], [place.lat for place in found])
    return [place for place, keep in zip(found, inside, strict=True) if keep]


# --- finalise -------------------------------------------------------------------------------------


async def finalise_area(payload: AreaRef, ctx: JobContext) -> AreaSummary:
    """All tiles are done: summarise the area and mark it completed."""
    async with ctx.resources.engine.begin() as conn:
        area = await area_queries.get_area(conn, area_id=payload.area_id)
        if area is None:
            raise UnrecoverableError(f"no area {payload.area_id}")
        counts = await area_queries.count_places(conn, area_id=payload.area_id)
        summary = _summary(area, counts, await area_queries.places_bbox(conn, area_id=payload.area_id))
        await area_queries.complete_area(
            conn, area_id=payload.area_id, summary=summary.model_dump(mode="json")
        )
    log.info("area.completed", area_id=str(payload.area_id), places=summary.places_total)
    return summary


def _summary(
    area: dict[str, Any],
    counts: list[tuple[str, str, int]],
    places_bbox: tuple[float, float, float, float] | None,
) -> AreaSummary:
    by_source: dict[str, int] = {}
    by_category: dict[str, int] = {}
    nested: dict[str, dict[str, int]] = {}
    for source, category, count in counts:
        by_source[source] = by_source.get(source, 0) + count
        by_category[category] = by_category.get(category, 0) + count
        nested.setdefault(source, {})[category] = count
    total = sum(by_source.values())
    started: datetime = area["started_at"] or area["created_at"]
    west, south, east, north = area["bbox"]
    return AreaSummary(
        places_total=total,
        places_by_source=by_source,
        places_by_category=by_category,
        places_by_source_and_category=nested,
        area_km2=area["area_km2"],
        density_per_km2=total / area["area_km2"] if area["area_km2"] else 0.0,
        bbox=(west, south, east, north),
        places_bbox=places_bbox,
        tiles=area["tiles_total"],
        upstream_calls=area["upstream_calls"],
        duration_s=(datetime.now(UTC) - started).total_seconds(),
    )


# --- shared ---------------------------------------------------------------------------------------


async def _load_area(ctx: JobContext, area_id: uuid.UUID) -> dict[str, Any]:
    async with ctx.resources.engine.connect() as conn:
        area = await area_queries.get_area(conn, area_id=area_id)
    if area is None:
        raise UnrecoverableError(f"no area {area_id}")
    return area


async def _fail(
    ctx: JobContext, area_id: uuid.UUID, reason: str, *, tile: tuple[str, str] | None = None
) -> None:
    log.warning("area.failed", area_id=str(area_id), reason=reason)
    async with ctx.resources.engine.begin() as conn:
        await area_queries.fail_area(conn, area_id=area_id, reason=reason, tile=tile)
