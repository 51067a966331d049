"""The fetch job: fetch one tile from its source, clip to the area, store its places.

A tile's places and its `done` mark are written in one transaction, so a crash never leaves a
tile half written, and a retried job finds a finished tile and does not fetch it again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from bullmq import UnrecoverableError

from areafetch.areas import Place
from areafetch.areas.sources import OSM_SOURCES
from areafetch.db import areas as area_queries
from areafetch.db.place_reads import stored_points_by_category
from areafetch.db.places import upsert_area_places
from areafetch.errors import AreaCancelled, InvalidArea, UpstreamRejected, UpstreamThrottled
from areafetch.geo import Circle, Tile, circle_polygon, contains_many, parse_area
from areafetch.geo._text_cover import OSM_PROXY_FILL, TEXT_FILL
from areafetch.job_log import job_log
from areafetch.jobs import FetchTilePayload, FetchTileResult
from areafetch.metrics import PLACES_WRITTEN
from areafetch.processors._shared import fail_tile, log
from areafetch.processors.base import JobContext
from areafetch.processors.google_cover import (
    GoogleMethod,
    GoogleSearches,
    KnownPlaces,
    choose_method,
    fetch_circle_region,
)
from areafetch.processors.overpass_cells import CellTooHeavy, fetch_overpass_cells
from areafetch.processors.reuse import reuse_tile
from areafetch.providers import TileTooLarge, extract_place_chunks
from areafetch.providers.overpass import CellPlaces
from areafetch.queue.flows import is_cancelled
from areafetch.ratelimit import checked_before_each_call

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["fetch_tile"]

_THROTTLED_RETRIES = 4

T = TypeVar("T")


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
    if area["state"] == "cancelled":
        return FetchTileResult(places=0, upstream_calls=0, splits=0, cancelled=True)
    if tile["state"] == "pending":
        reused = await reuse_tile(payload, tile["geometry"], area, ctx)
        if reused is not None:
            return FetchTileResult(places=reused, upstream_calls=0, splits=0, reused=True)
    tally = _Tally()
    try:
        with checked_before_each_call(lambda: _still_wanted(ctx, payload)):
            written = await _fetch_and_store(payload, tile, area, ctx, tally)
        PLACES_WRITTEN.labels(payload.source).inc(written)
    except AreaCancelled:
        log.info("tile.cancelled", area_id=str(payload.area_id), tile=payload.tile_id, calls=tally.calls)
        return FetchTileResult(places=0, upstream_calls=tally.calls, splits=tally.splits, cancelled=True)
    except (UpstreamRejected, TileTooLarge, InvalidArea) as exc:
        await fail_tile(ctx, payload, _tile_reason(payload, exc))
        raise UnrecoverableError(_tile_reason(payload, exc)) from exc
    except Exception as exc:
        if ctx.is_last_attempt:
            await fail_tile(ctx, payload, _tile_reason(payload, exc))
        raise
    return FetchTileResult(places=written, upstream_calls=tally.calls, splits=tally.splits)


async def _fetch_and_store(
    payload: FetchTilePayload, tile: dict[str, Any], area: dict[str, Any], ctx: JobContext, tally: _Tally
) -> int:
    geometry = parse_area(area["geometry"], max_vertices=10**9, max_area_km2=None)
    categories = tuple(area["categories"])
    if payload.source == "osm_extract":
        return await _store_extract(payload, tile["geometry"], geometry, categories, ctx)
    if payload.source == "overpass":
        cells = await fetch_overpass_cells(
            payload,
            geometry,
            categories,
            ctx,
            fetch_cell=lambda cell: _fetch_overpass_cell(cell, categories, ctx),
            clip=lambda found: _clip(found, geometry),
        )
        tally.calls, tally.splits = cells.calls, cells.splits
        return cells.places
    found = await _fetch(payload.source, tile["geometry"], geometry, categories, ctx, tally)
    async with ctx.resources.engine.begin() as conn:
        written = await upsert_area_places(conn, area_id=payload.area_id, places=_clip(found, geometry))
        await _complete_tile(conn, payload, places_found=written, upstream_calls=tally.calls)
    return written


async def _still_wanted(ctx: JobContext, payload: FetchTilePayload) -> None:
    """Raises `AreaCancelled` once the area is cancelled: run before each limiter slot and on waking
    for it, so no request leaves for a cancelled area. A Redis key, not the database: this runs just
    before a slot is confirmed, and a slow round trip there would make the call leave late."""
    if await is_cancelled(ctx.resources.redis, ctx.resources.settings, payload.area_id):
        raise AreaCancelled(f"area {payload.area_id} was cancelled")


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
    if source == "google_places":
        return await _fetch_google(Circle.model_validate(unit), area, categories, ctx, tally)
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
    circle: Circle, area: Any, categories: tuple[str, ...], ctx: JobContext, tally: _Tally
) -> list[Place]:
    client = ctx.resources.upstreams.google_places
    if client is None:
        raise UpstreamRejected("google_places needs AREAFETCH_GOOGLE_API_KEY")
    settings = ctx.resources.settings
    attempts = _Tally()

    async def billed(request: Callable[[], Awaitable[T]]) -> T:
        result = await _call(attempts, request)
        tally.calls += 1  # Google bills the answers, not the 429s retried before them
        return result

    searches = GoogleSearches(
        nearby=lambda asked: billed(
            lambda: client.search_nearby(asked.lon, asked.lat, asked.radius_m, categories)
        ),
        text=lambda rectangle, token: billed(
            lambda: client.search_text(rectangle.bbox, rectangle.google_type, categories, page_token=token)
        ),
        page_delay_s=settings.google_text_page_delay_s,
    )
    if settings.google_method == "nearby":  # the DISTANCE cover needs nothing known
        known, method = KnownPlaces.of({}, categories, fill=TEXT_FILL), GoogleMethod("nearby")
    else:
        known = await _known_google_places(circle, categories, ctx)
        method = await ctx.resources.cpu.run(choose_method, circle, area, known, settings.google_method)
    log.info(
        "google.method",
        circle=circle.id,
        method=method.name,
        nearby=method.nearby_calls,
        text=method.text_calls,
    )
    await job_log(_method_line(circle, method))
    return await fetch_circle_region(
        circle,
        area,
        searches,
        method=method,
        known=known,
        max_calls=settings.max_upstream_calls_per_job,
    )


async def _known_google_places(circle: Circle, categories: tuple[str, ...], ctx: JobContext) -> KnownPlaces:
    """The places known around a circle: Google's own from earlier areas, else OpenStreetMap's, a
    proxy that usually knows fewer places than Google (so Text Search rectangles are filled less)."""
    bbox = circle_polygon(circle).bounds
    async with ctx.resources.engine.connect() as conn:
        google = await stored_points_by_category(
            conn, sources=["google_places"], categories=categories, bbox=bbox
        )
        if google:
            return KnownPlaces.of(google, categories, fill=TEXT_FILL)
        osm = await stored_points_by_category(conn, sources=OSM_SOURCES, categories=categories, bbox=bbox)
    return KnownPlaces.of(osm, categories, fill=OSM_PROXY_FILL)


def _method_line(circle: Circle, method: GoogleMethod) -> str:
    name = {"nearby": "Nearby Search", "text": "Text Search"}[method.name]
    if method.nearby_calls is None or method.text_calls is None:
        return f"circle {circle.id}: {name} (nothing known around it, or set by AREAFETCH_GOOGLE_METHOD)"
    return (
        f"circle {circle.id}: {name}, from the places known around it expected to take "
        f"Nearby {method.nearby_calls} / Text {method.text_calls} calls"
    )


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
