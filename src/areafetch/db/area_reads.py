"""Reads of areas for overviews (`areafetch status`, `GET /api/areas`): newest first, no geometry.

Pages are keyset pages on (created_at, id), both descending: the cursor is the last area of a page,
so page 500 costs what page 1 costs and an area created meanwhile never shifts a page.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, computed_field
from sqlalchemy import ColumnElement, and_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from areafetch.db.tables import areas

__all__ = ["AreaFilter", "AreaOverview", "list_areas", "recent_areas"]


class AreaOverview(BaseModel):
    """One area as an overview shows it (`areafetch status`, `GET /api/areas`): its state and
    progress, never its geometry."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    name: str
    state: str
    run: int = 1
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

    @computed_field(description="from creation to the end; None while it runs")  # type: ignore[prop-decorator]
    @property
    def duration_s(self) -> float | None:
        """From creation to the end; None while it runs."""
        if self.finished_at is None:
            return None
        return round((self.finished_at - self.created_at).total_seconds(), 3)


@dataclass(frozen=True, slots=True)
class AreaFilter:
    """Which areas a listing shows; every field optional."""

    states: tuple[str, ...] = ()
    name_contains: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    after: tuple[datetime, uuid.UUID] | None = None
    """The (created_at, id) of the last area of the previous page."""


async def recent_areas(conn: AsyncConnection, *, limit: int) -> list[AreaOverview]:
    """The `limit` most recently created areas, newest first."""
    return await list_areas(conn, limit=limit, where=AreaFilter())


def _conditions(where: AreaFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if where.states:
        conditions.append(areas.c.state.in_(where.states))
    if where.name_contains:
        conditions.append(areas.c.name.icontains(where.name_contains, autoescape=True))
    if where.created_after is not None:
        conditions.append(areas.c.created_at > where.created_after)
    if where.created_before is not None:
        conditions.append(areas.c.created_at < where.created_before)
    if where.after is not None:
        conditions.append(tuple_(areas.c.created_at, areas.c.id) < tuple_(*where.after))
    return conditions


async def list_areas(conn: AsyncConnection, *, limit: int, where: AreaFilter) -> list[AreaOverview]:
    """Up to `limit` areas matching `where`, newest first (ties by id, descending)."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    statement = (
        select(
            areas.c.id,
            areas.c.name,
            areas.c.state,
            areas.c.run,
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
        .where(and_(True, *_conditions(where)))
        .order_by(areas.c.created_at.desc(), areas.c.id.desc())
        .limit(limit)
    )
    rows = await conn.execute(statement)
    return [
        AreaOverview(
            id=row.id,
            name=row.name,
            state=row.state,
            run=row.run,
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
