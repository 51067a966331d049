"""The finalise job: every tile is done or failed, so summarise the area and end it.

The area ends `completed` when every tile was fetched, `partial` when some failed for good and
others were fetched (each failed tile keeps its reason), `failed` when none could be fetched. A
fetch job that BullMQ failed without our handler running (its worker died while holding it more
often than `AREAFETCH_MAX_STALLED_COUNT`) left its tiles pending: they are marked failed here with
BullMQ's reason. A cancelled area stays cancelled and gets the summary of what was fetched.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from bullmq import UnrecoverableError
from sqlalchemy.ext.asyncio import AsyncConnection

from areafetch.areas import fetch_job_id
from areafetch.areas.google_prices import nearby_sku, price_usd
from areafetch.areas.states import AreaState
from areafetch.db import areas as area_queries
from areafetch.db.place_links import replace_links
from areafetch.db.runs import snapshot_run_places
from areafetch.jobs import AreaRef, AreaSummary
from areafetch.processors._shared import log
from areafetch.processors.base import JobContext
from areafetch.processors.conflate import conflate_area
from areafetch.queue.flows import failed_children

__all__ = ["finalise_area"]

_NO_REASON = "its fetch job failed without storing it"


async def finalise_area(payload: AreaRef, ctx: JobContext) -> AreaSummary:
    """Every tile is done or failed: summarise the area and end it completed, partial or failed."""
    settings = ctx.resources.settings
    job_failures = await failed_children(ctx.resources.redis, settings, payload.area_id)
    conflation = await conflate_area(ctx, payload.area_id, await _sources(ctx, payload.area_id))
    async with ctx.resources.engine.begin() as conn:
        state = await area_queries.lock_area_state(conn, area_id=payload.area_id)
        area = await area_queries.get_area(conn, area_id=payload.area_id)
        if state is None or area is None:
            raise UnrecoverableError(f"no area {payload.area_id}")
        if state != "cancelled":
            await _fail_unfinished_tiles(conn, payload.area_id, job_failures)
        failed = await area_queries.failed_tiles(conn, area_id=payload.area_id)
        progress = await area_queries.tile_progress(conn, area_id=payload.area_id)
        await snapshot_run_places(conn, area_id=payload.area_id)  # what the next run is compared with
        await replace_links(conn, area_id=payload.area_id, links=conflation.links)
        counts = await area_queries.count_places(conn, area_id=payload.area_id)
        summary = _summary(area, counts, await area_queries.places_bbox(conn, area_id=payload.area_id))
        google_calls = (await area_queries.calls_by_source(conn, area_id=payload.area_id)).get(
            "google_places", 0
        )
        summary = summary.model_copy(
            update={
                "tiles_failed": len(failed),
                "tiles_reused": await area_queries.reused_tiles(conn, area_id=payload.area_id),
                "google_calls_billed": google_calls,
                "google_usd": price_usd(google_calls, settings.google_prices, nearby_sku(settings)),
                **conflation.summary(summary.places_by_source),
            }
        )
        ending, reason = _ending(failed, fetched_any=any(done for done, _ in progress.values()))
        await area_queries.finish_area(
            conn,
            area_id=payload.area_id,
            state=ending,
            summary=summary.model_dump(mode="json"),
            failed_reason=reason,
        )
    log.info(
        "area.finished",
        area_id=str(payload.area_id),
        state=state if state == "cancelled" else ending,
        places=summary.places_total,
        tiles_failed=len(failed),
    )
    return summary


async def _sources(ctx: JobContext, area_id: uuid.UUID) -> list[str]:
    async with ctx.resources.engine.connect() as conn:
        area = await area_queries.get_area(conn, area_id=area_id)
    return list(area["sources"]) if area else []


async def _fail_unfinished_tiles(
    conn: AsyncConnection, area_id: uuid.UUID, job_failures: dict[str, str]
) -> None:
    for source, tile_id in await area_queries.unfinished_tiles(conn, area_id=area_id):
        job_id = fetch_job_id(area_id, source, tile_id.split("/", 1)[0])  # a cell's job is its tile's
        reason = f"{source} tile {tile_id}: {job_failures.get(job_id, _NO_REASON)}"
        await area_queries.fail_tile(conn, area_id=area_id, source=source, tile_id=tile_id, reason=reason)


def _ending(failed: list[tuple[str, str, str]], *, fetched_any: bool) -> tuple[AreaState, str | None]:
    if not failed:
        return "completed", None
    first = failed[0][2]
    if fetched_any:
        return "partial", f"{len(failed)} tile(s) failed, the rest were fetched; the first: {first}"
    return "failed", f"no tile could be fetched; the first: {first}"


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
