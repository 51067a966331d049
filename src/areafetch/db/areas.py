"""Queries about areas and their tiles: the connection passed explicitly, data keyword-only."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from areafetch.db.tables import area_places, areas, places, tiles

__all__ = [
    "complete_area",
    "complete_tile",
    "count_places",
    "create_area",
    "delete_area",
    "fail_area",
    "get_area",
    "get_tile",
    "places_bbox",
    "start_planning",
    "store_plan",
    "tile_progress",
    "unfinished_areas",
]

_FINISHED = ("completed", "failed")


async def create_area(
    conn: AsyncConnection,
    *,
    area_id: uuid.UUID,
    name: str,
    geometry: dict[str, Any],
    bbox: Sequence[float],
    area_km2: float,
    sources: Sequence[str],
    categories: Sequence[str],
    job_id: str,
) -> None:
    await conn.execute(
        insert(areas).values(
            id=area_id,
            name=name,
            geometry=geometry,
            bbox=list(bbox),
            area_km2=area_km2,
            sources=list(sources),
            categories=list(categories),
            job_id=job_id,
        )
    )


async def delete_area(conn: AsyncConnection, *, area_id: uuid.UUID) -> None:
    """Delete the area, its tiles and its links to places (migration 0004's trigger).

    Deleting the row waits for any `upsert_area_places` still linking places to it (they hold a
    lock on it) and keeps new ones out; the trigger then removes the links, theirs included.
    """
    await conn.execute(delete(areas).where(areas.c.id == area_id))


async def get_area(conn: AsyncConnection, *, area_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await conn.execute(select(areas).where(areas.c.id == area_id))).first()
    return dict(row._mapping) if row else None


async def start_planning(conn: AsyncConnection, *, area_id: uuid.UUID) -> bool:
    """Move a queued area to `planning`; False when it is already past that (a retried plan job)."""
    result = await conn.execute(
        update(areas)
        .where(areas.c.id == area_id, areas.c.state.in_(("queued", "planning")))
        .values(state="planning", started_at=func.coalesce(areas.c.started_at, func.now()))
        .returning(areas.c.id)
    )
    return result.first() is not None


async def store_plan(
    conn: AsyncConnection, *, area_id: uuid.UUID, units: Sequence[tuple[str, str, dict[str, Any]]]
) -> None:
    """Write the planned tiles, (source, tile id, geometry) each, and mark the area running."""
    if units:
        statement = pg_insert(tiles).values(
            [{"area_id": area_id, "source": s, "tile_id": t, "geometry": g} for s, t, g in units]
        )
        await conn.execute(statement.on_conflict_do_nothing())
    await conn.execute(
        update(areas)
        .where(areas.c.id == area_id)
        .values(state="running", tiles_total=len(units), work_total=float(len(units)))
    )


async def get_tile(
    conn: AsyncConnection, *, area_id: uuid.UUID, source: str, tile_id: str
) -> dict[str, Any] | None:
    row = (
        await conn.execute(
            select(tiles).where(
                tiles.c.area_id == area_id, tiles.c.source == source, tiles.c.tile_id == tile_id
            )
        )
    ).first()
    return dict(row._mapping) if row else None


async def complete_tile(
    conn: AsyncConnection,
    *,
    area_id: uuid.UUID,
    source: str,
    tile_id: str,
    places_found: int,
    upstream_calls: int,
) -> bool:
    """Mark a tile done and count it on its area, once: False when it was done already."""
    done = await conn.execute(
        update(tiles)
        .where(
            tiles.c.area_id == area_id,
            tiles.c.source == source,
            tiles.c.tile_id == tile_id,
            tiles.c.state != "done",
        )
        .values(state="done", places_found=places_found, upstream_calls=upstream_calls, updated_at=func.now())
        .returning(tiles.c.weight)
    )
    weight = done.scalar()
    if weight is None:
        return False
    await conn.execute(
        update(areas)
        .where(areas.c.id == area_id)
        .values(
            tiles_done=areas.c.tiles_done + 1,
            upstream_calls=areas.c.upstream_calls + upstream_calls,
            work_done=areas.c.work_done + weight,
        )
    )
    return True


async def fail_area(
    conn: AsyncConnection, *, area_id: uuid.UUID, reason: str, tile: tuple[str, str] | None = None
) -> None:
    """Mark the area failed with its reason (and the tile that caused it), unless it already finished."""
    if tile is not None:
        source, tile_id = tile
        await conn.execute(
            update(tiles)
            .where(tiles.c.area_id == area_id, tiles.c.source == source, tiles.c.tile_id == tile_id)
            .values(state="failed", failed_reason=reason, updated_at=func.now())
        )
    await conn.execute(
        update(areas)
        .where(areas.c.id == area_id, areas.c.state.not_in(_FINISHED))
        .values(state="failed", failed_reason=reason, finished_at=func.now())
    )


async def complete_area(conn: AsyncConnection, *, area_id: uuid.UUID, summary: dict[str, Any]) -> None:
    await conn.execute(
        update(areas)
        .where(areas.c.id == area_id)
        .values(state="completed", summary=summary, finished_at=func.now(), failed_reason=None)
    )


async def tile_progress(conn: AsyncConnection, *, area_id: uuid.UUID) -> dict[str, tuple[int, int]]:
    """(done, total) tiles per source."""
    done = func.sum(case((tiles.c.state == "done", 1), else_=0))
    rows = await conn.execute(
        select(tiles.c.source, done, func.count()).where(tiles.c.area_id == area_id).group_by(tiles.c.source)
    )
    return {source: (int(finished or 0), int(total)) for source, finished, total in rows}


async def calls_by_source(conn: AsyncConnection, *, area_id: uuid.UUID) -> dict[str, int]:
    """Upstream calls the area's finished tiles made, per source (for Google: the billed ones)."""
    rows = await conn.execute(
        select(tiles.c.source, func.sum(tiles.c.upstream_calls))
        .where(tiles.c.area_id == area_id)
        .group_by(tiles.c.source)
    )
    return {source: int(total or 0) for source, total in rows}


async def count_places(conn: AsyncConnection, *, area_id: uuid.UUID) -> list[tuple[str, str, int]]:
    """(source, category, places) of an area."""
    rows = await conn.execute(
        select(places.c.source, places.c.category, func.count())
        .select_from(area_places.join(places, places.c.id == area_places.c.place_id))
        .where(area_places.c.area_id == area_id)
        .group_by(places.c.source, places.c.category)
    )
    return [(source, category, int(count)) for source, category, count in rows]


async def places_bbox(
    conn: AsyncConnection, *, area_id: uuid.UUID
) -> tuple[float, float, float, float] | None:
    row = (
        await conn.execute(
            select(
                func.min(places.c.lon), func.min(places.c.lat), func.max(places.c.lon), func.max(places.c.lat)
            )
            .select_from(area_places.join(places, places.c.id == area_places.c.place_id))
            .where(area_places.c.area_id == area_id)
        )
    ).one()
    return None if row[0] is None else (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


async def unfinished_areas(conn: AsyncConnection, *, idle_for_s: float) -> list[tuple[uuid.UUID, str]]:
    """Areas still queued, planning or running whose last step began over ``idle_for_s`` ago."""
    began = func.coalesce(areas.c.started_at, areas.c.created_at)
    rows = await conn.execute(
        select(areas.c.id, areas.c.state).where(
            areas.c.state.in_(("queued", "planning", "running")),
            began < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, idle_for_s),
        )
    )
    return [(row.id, row.state) for row in rows]

