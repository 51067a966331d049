"""Reads of areas for overviews (`areafetch status`): the newest areas first, no geometry."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from areafetch.db.tables import areas

__all__ = ["AreaOverview", "recent_areas"]


@dataclass(frozen=True, slots=True)
class AreaOverview:
    """One area as an overview shows it: its state and progress, never its geometry."""

    id: uuid.UUID
    name: str
    state: str
    sources: list[str]
    categories: list[str]
    area_km2: float
    tiles_done: int
    tiles_total: int
    upstream_calls: int
    places_total: int | None
    failed_reason: str | None
    created_at: datetime
    finished_at: datetime | None


async def recent_areas(conn: AsyncConnection, *, limit: int) -> list[AreaOverview]:
    """The `limit` most recently created areas, newest first."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    statement = (
        select(
            areas.c.id,
            areas.c.name,
            areas.c.state,
            areas.c.sources,
            areas.c.categories,
            areas.c.area_km2,
            areas.c.tiles_done,
            areas.c.tiles_total,
            areas.c.upstream_calls,
            areas.c.summary["places_total"].as_integer().label("places_total"),
            areas.c.failed_reason,
            areas.c.created_at,
            areas.c.finished_at,
        )
        .order_by(areas.c.created_at.desc(), areas.c.id)
        .limit(limit)
    )
    rows = await conn.execute(statement)
    return [
        AreaOverview(
            id=row.id,
            name=row.name,
            state=row.state,
            sources=list(row.sources),
            categories=list(row.categories),
            area_km2=float(row.area_km2),
            tiles_done=int(row.tiles_done),
            tiles_total=int(row.tiles_total),
            upstream_calls=int(row.upstream_calls),
            places_total=None if row.places_total is None else int(row.places_total),
            failed_reason=row.failed_reason,
            created_at=row.created_at,
            finished_at=row.finished_at,
        )
        for row in rows
    ]
