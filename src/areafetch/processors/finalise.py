"""The finalise job: every tile is done, so summarise the area and mark it completed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bullmq import UnrecoverableError

from areafetch.areas.google_prices import price_usd
from areafetch.db import areas as area_queries
from areafetch.jobs import AreaRef, AreaSummary
from areafetch.processors._shared import log
from areafetch.processors.base import JobContext

__all__ = ["finalise_area"]


async def finalise_area(payload: AreaRef, ctx: JobContext) -> AreaSummary:
    """All tiles are done: summarise the area and mark it completed."""
    async with ctx.resources.engine.begin() as conn:
        area = await area_queries.get_area(conn, area_id=payload.area_id)
        if area is None:
            raise UnrecoverableError(f"no area {payload.area_id}")
        counts = await area_queries.count_places(conn, area_id=payload.area_id)
        summary = _summary(area, counts, await area_queries.places_bbox(conn, area_id=payload.area_id))
        google_calls = (await area_queries.calls_by_source(conn, area_id=payload.area_id)).get(
            "google_places", 0
        )
        summary = summary.model_copy(
            update={
                "google_calls_billed": google_calls,
                "google_usd": price_usd(google_calls, ctx.resources.settings.google_prices),
            }
        )
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
