"""Queries about areas and their tiles: the connection passed explicitly, data keyword-only."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from areafetch.areas.states import FINISHED_STATES, UNFINISHED_STATES, AreaState
from areafetch.db.tables import area_places, areas, places, tile_and_cells, tiles
from areafetch.tracing import traced_write

__all__ = [
    "cancel_area",
    "complete_tile",
    "count_places",
    "create_area",
    "delete_area",
    "fail_area",
    "fail_tile",
    "failed_tiles",
    "finish_area",
    "get_area",
    "get_tile",
    "places_bbox",
    "reopen_failed_tiles",
    "restore_failed_tiles",
    "reuse_candidates",
    "reused_tiles",
    "start_planning",
    "store_plan",
    "tile_progress",
    "unfinished_areas",
    "unfinished_tiles",
]


@traced_write("insert", "areas")
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
    refresh_every: str | None = None,
) -> None:
    await conn.execute(
        insert(areas).values(
            refresh_every=refresh_every,
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


async def purge_places_of_only(conn: AsyncConnection, *, area_id: uuid.UUID) -> int:
    """Delete the places that only this area links to (before the area itself goes); their count."""
    links = area_places.alias("links")
    others = area_places.alias("others")
    only_here = (
        select(links.c.place_id)
        .where(links.c.area_id == area_id)
        .where(
            ~select(others.c.place_id)
            .where(others.c.place_id == links.c.place_id, others.c.area_id != area_id)
            .exists()
        )
    )
    result = await conn.execute(delete(places).where(places.c.id.in_(only_here)))
    return int(result.rowcount or 0)


async def lock_area_state(conn: AsyncConnection, *, area_id: uuid.UUID) -> str | None:
    """The area's state, its row locked until the transaction ends; None when there is no such area."""
    row = (await conn.execute(select(areas.c.state).where(areas.c.id == area_id).with_for_update())).first()
    return None if row is None else str(row.state)


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


@traced_write("insert", "tiles")
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
        .where(areas.c.id == area_id, areas.c.state == "planning")  # not a cancelled one
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


@traced_write("update", "tiles")
async def complete_tile(
    conn: AsyncConnection,
    *,
    area_id: uuid.UUID,
    source: str,
    tile_id: str,
    places_found: int,
    upstream_calls: int,
    reused_from: uuid.UUID | None = None,
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
        .values(
            state="done",
            places_found=places_found,
            upstream_calls=upstream_calls,
            reused_from=reused_from,
            updated_at=func.now(),
        )
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


_UNFINISHED_TILE = ("pending",)


@traced_write("update", "tiles")
async def fail_tile(
    conn: AsyncConnection, *, area_id: uuid.UUID, source: str, tile_id: str, reason: str
) -> int:
    """Mark what a fetch job left unfetched (its tile, or its cells still pending) failed; how many."""
    result = await conn.execute(
        update(tiles)
        .where(tile_and_cells(area_id, source, tile_id), tiles.c.state.in_(_UNFINISHED_TILE))
        .values(state="failed", failed_reason=reason, updated_at=func.now())
    )
    return int(result.rowcount or 0)


async def unfinished_tiles(conn: AsyncConnection, *, area_id: uuid.UUID) -> list[tuple[str, str]]:
    """(source, tile id) of the area's tiles neither done, split nor failed."""
    rows = await conn.execute(
        select(tiles.c.source, tiles.c.tile_id).where(
            tiles.c.area_id == area_id, tiles.c.state.in_(_UNFINISHED_TILE)
        )
    )
    return [(row.source, row.tile_id) for row in rows]


async def failed_tiles(conn: AsyncConnection, *, area_id: uuid.UUID) -> list[tuple[str, str, str]]:
    """(source, tile id, reason) of the area's failed tiles, in order."""
    rows = await conn.execute(
        select(tiles.c.source, tiles.c.tile_id, tiles.c.failed_reason)
        .where(tiles.c.area_id == area_id, tiles.c.state == "failed")
        .order_by(tiles.c.source, tiles.c.tile_id)
    )
    return [(row.source, row.tile_id, row.failed_reason or "") for row in rows]


@traced_write("update", "areas")
async def fail_area(conn: AsyncConnection, *, area_id: uuid.UUID, reason: str) -> None:
    """Mark the area failed with its reason, and its unfinished tiles too (a retry takes them up
    again), unless it already finished."""
    finished = await conn.execute(
        update(areas)
        .where(areas.c.id == area_id, areas.c.state.not_in(FINISHED_STATES))
        .values(state="failed", failed_reason=reason, finished_at=func.now())
        .returning(areas.c.id)
    )
    if finished.first() is not None:
        await conn.execute(
            update(tiles)
            .where(tiles.c.area_id == area_id, tiles.c.state.in_(_UNFINISHED_TILE))
            .values(state="failed", failed_reason=reason, updated_at=func.now())
        )


@traced_write("update", "areas")
async def finish_area(
    conn: AsyncConnection,
    *,
    area_id: uuid.UUID,
    state: AreaState,
    summary: dict[str, Any],
    failed_reason: str | None = None,
) -> None:
    """End the area in `state` with its summary; a cancelled area stays cancelled."""
    cancelled = areas.c.state == "cancelled"
    await conn.execute(
        update(areas)
        .where(areas.c.id == area_id)
        .values(
            state=case((cancelled, areas.c.state), else_=state),
            summary=summary,
            finished_at=func.coalesce(areas.c.finished_at, func.now()),
            failed_reason=case((cancelled, areas.c.failed_reason), else_=failed_reason),
        )
    )


async def cancel_area(conn: AsyncConnection, *, area_id: uuid.UUID) -> None:
    """Mark the area cancelled: its jobs make no upstream call from now on."""
    await conn.execute(
        update(areas)
        .where(areas.c.id == area_id)
        .values(state="cancelled", finished_at=func.now(), failed_reason="cancelled")
    )


async def reopen_failed_tiles(conn: AsyncConnection, *, area_id: uuid.UUID) -> list[tuple[str, str, str]]:
    """Put the area's failed tiles back to pending and the area back to running, for a retry;
    (source, tile id, reason) of each tile reopened."""
    reopened = await failed_tiles(conn, area_id=area_id)
    if not reopened:
        return []
    await conn.execute(
        update(tiles)
        .where(tiles.c.area_id == area_id, tiles.c.state == "failed")
        .values(state="pending", failed_reason=None, updated_at=func.now())
    )
    await conn.execute(
        update(areas)
        .where(areas.c.id == area_id)
        .values(state="running", failed_reason=None, finished_at=None, summary=None, started_at=func.now())
    )
    return reopened


async def restore_failed_tiles(
    conn: AsyncConnection,
    *,
    area_id: uuid.UUID,
    state: str,
    reopened: Sequence[tuple[str, str, str]],
    reason: str | None,
) -> None:
    """Undo `reopen_failed_tiles` (the retry could not be queued): tiles, state and reason as before."""
    for source, tile_id, tile_reason in reopened:
        await conn.execute(
            update(tiles)
            .where(tiles.c.area_id == area_id, tiles.c.source == source, tiles.c.tile_id == tile_id)
            .values(state="failed", failed_reason=tile_reason)
        )
    await conn.execute(
        update(areas)
        .where(areas.c.id == area_id)
        .values(state=state, failed_reason=reason, finished_at=func.now())
    )


async def tile_progress(conn: AsyncConnection, *, area_id: uuid.UUID) -> dict[str, tuple[int, int]]:
    """(done, total) tiles per source."""
    done = func.sum(case((tiles.c.state == "done", 1), else_=0))
    rows = await conn.execute(
        select(tiles.c.source, done, func.count()).where(tiles.c.area_id == area_id).group_by(tiles.c.source)
    )
    return {source: (int(finished or 0), int(total)) for source, finished, total in rows}


async def reused_tiles(conn: AsyncConnection, *, area_id: uuid.UUID) -> int:
    """How many of the area's tiles were served from an earlier area's places."""
    count = await conn.scalar(
        select(func.count()).where(tiles.c.area_id == area_id, tiles.c.reused_from.is_not(None))
    )
    return int(count or 0)


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
            areas.c.state.in_(UNFINISHED_STATES),
            began < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, idle_for_s),
        )
    )
    return [(row.id, row.state) for row in rows]


async def reuse_candidates(
    conn: AsyncConnection,
    *,
    area_id: uuid.UUID,
    source: str,
    categories: Sequence[str],
    bbox: tuple[float, float, float, float],
    max_age_s: float,
) -> list[dict[str, Any]]:
    """Areas whose places of `source` could serve a tile within `bbox` (newest first): same source
    and categories, started within `max_age_s`, finished with every tile of that source fetched,
    their bbox covering the tile's. The caller checks that the geometry covers the tile."""
    west, south, east, north = bbox
    failed_here = (
        select(tiles.c.area_id)
        .where(tiles.c.area_id == areas.c.id, tiles.c.source == source, tiles.c.state == "failed")
        .exists()
    )
    rows = await conn.execute(
        select(areas.c.id, areas.c.geometry)
        .where(
            areas.c.id != area_id,
            areas.c.state.in_(("completed", "partial")),
            areas.c.sources.any(source),
            areas.c.categories.contains(list(categories)),
            areas.c.categories.contained_by(list(categories)),
            areas.c.started_at > func.now() - func.make_interval(0, 0, 0, 0, 0, 0, max_age_s),
            areas.c.bbox[1] <= west,
            areas.c.bbox[2] <= south,
            areas.c.bbox[3] >= east,
            areas.c.bbox[4] >= north,
            ~failed_here,
        )
        .order_by(areas.c.started_at.desc())
        .limit(5)
    )
    return [dict(row._mapping) for row in rows]
