"""Runs of an area: the first run is the area itself, each refresh an area of its own with
`refresh_of` naming the first and `run` its number; `run_places` keeps each place as a run saw it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, cast, delete, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from areafetch.areas.job_ids import plan_job_id
from areafetch.areas.states import UNFINISHED_STATES
from areafetch.db.tables import area_places, areas, places, run_places
from areafetch.errors import AreaNotFound, AreaStateConflict

__all__ = [
    "PlaceDelta",
    "begin_next_run",
    "create_run",
    "place_deltas",
    "run_of",
    "runs_of",
    "series",
    "snapshot_run_places",
]


def _series(first_id: uuid.UUID) -> Any:
    return or_(areas.c.id == first_id, areas.c.refresh_of == first_id)


async def series(conn: AsyncConnection, *, area_id: uuid.UUID, lock: bool = False) -> list[dict[str, Any]]:
    """Every run of the series the area belongs to (any of its runs may be named), oldest first;
    [] for an unknown area. `lock` locks the first run's row until the transaction ends: one
    refresh or delete of a series at a time."""
    first = (
        await conn.execute(select(func.coalesce(areas.c.refresh_of, areas.c.id)).where(areas.c.id == area_id))
    ).scalar()
    if first is None:
        return []
    if lock:
        await conn.execute(select(areas.c.id).where(areas.c.id == first).with_for_update())
    return await runs_of(conn, first_id=first)


async def begin_next_run(
    conn: AsyncConnection, *, area_id: uuid.UUID, new_id: uuid.UUID
) -> tuple[uuid.UUID, int]:
    """Add the next run of the area's series as `new_id`, queued: (first run's id, its number).

    Raises:
        AreaNotFound: no such area.
        AreaStateConflict: a run of the series is still going (one run at a time).
    """
    runs = await series(conn, area_id=area_id, lock=True)
    if not runs:
        raise AreaNotFound(f"no area with id {area_id}")
    first, latest = runs[0], runs[-1]
    if latest["state"] in UNFINISHED_STATES:
        raise AreaStateConflict(
            f"run {latest['run']} of area {first['id']} is {latest['state']}; one run at a time"
        )
    await create_run(conn, first=first, run=latest["run"] + 1, area_id=new_id, job_id=plan_job_id(new_id))
    return first["id"], latest["run"] + 1


async def runs_of(conn: AsyncConnection, *, first_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await conn.execute(select(areas).where(_series(first_id)).order_by(areas.c.run))
    return [dict(row._mapping) for row in rows]


async def run_of(conn: AsyncConnection, *, area_id: uuid.UUID, run: int) -> dict[str, Any] | None:
    """Run number `run` of the series the area belongs to."""
    first = (
        select(func.coalesce(areas.c.refresh_of, areas.c.id)).where(areas.c.id == area_id).scalar_subquery()
    )
    row = (
        await conn.execute(
            select(areas).where(or_(areas.c.id == first, areas.c.refresh_of == first), areas.c.run == run)
        )
    ).first()
    return dict(row._mapping) if row else None


async def create_run(
    conn: AsyncConnection, *, first: dict[str, Any], run: int, area_id: uuid.UUID, job_id: str
) -> None:
    """A new run of the series: the first run's area, sources and categories, queued."""
    await conn.execute(
        insert(areas).values(
            id=area_id,
            name=first["name"],
            geometry=first["geometry"],
            bbox=first["bbox"],
            area_km2=first["area_km2"],
            sources=first["sources"],
            categories=first["categories"],
            job_id=job_id,
            refresh_of=first["id"],
            run=run,
        )
    )


async def snapshot_run_places(conn: AsyncConnection, *, area_id: uuid.UUID) -> int:
    """Keep the area's places as they are now (at its finalise): what a later run is compared with."""
    await conn.execute(delete(run_places).where(run_places.c.area_id == area_id))
    seen = (
        select(
            area_places.c.area_id,
            places.c.id,
            places.c.name,
            places.c.category,
            places.c.lon,
            places.c.lat,
            func.md5(cast(places.c.attributes.op("-")("name"), Text)),  # the name is compared apart
        )
        .select_from(area_places.join(places, places.c.id == area_places.c.place_id))
        .where(area_places.c.area_id == area_id)
    )
    result = await conn.execute(
        insert(run_places).from_select(
            ["area_id", "place_id", "name", "category", "lon", "lat", "attributes_md5"], seen
        )
    )
    return int(result.rowcount or 0)


@dataclass(frozen=True, slots=True)
class PlaceDelta:
    """A place in one run and not the other, or in both with something different."""

    source: str
    source_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


async def place_deltas(
    conn: AsyncConnection, *, before_id: uuid.UUID, after_id: uuid.UUID
) -> list[PlaceDelta]:
    """Places that differ between two runs' snapshots, in any way (the caller weighs a move)."""
    old = select(run_places).where(run_places.c.area_id == before_id).subquery("old")
    new = select(run_places).where(run_places.c.area_id == after_id).subquery("new")
    place_id = func.coalesce(new.c.place_id, old.c.place_id)
    differs = or_(
        old.c.place_id.is_(None),
        new.c.place_id.is_(None),
        old.c.name.is_distinct_from(new.c.name),
        old.c.category != new.c.category,
        old.c.attributes_md5 != new.c.attributes_md5,
        old.c.lon != new.c.lon,
        old.c.lat != new.c.lat,
    )
    fields = ("place_id", "name", "category", "lon", "lat", "attributes_md5")
    rows = await conn.execute(
        select(
            places.c.source,
            places.c.source_id,
            *[old.c[f].label(f"old_{f}") for f in fields],
            *[new.c[f].label(f"new_{f}") for f in fields],
        )
        .select_from(old.join(new, old.c.place_id == new.c.place_id, full=True))
        .join(places, places.c.id == place_id)
        .where(differs)
        .order_by(places.c.source, places.c.source_id)
    )
    return [
        PlaceDelta(
            source=row.source,
            source_id=row.source_id,
            before=_side(row._mapping, "old_", fields),
            after=_side(row._mapping, "new_", fields),
        )
        for row in rows
    ]


def _side(row: Any, prefix: str, fields: tuple[str, ...]) -> dict[str, Any] | None:
    if row[f"{prefix}place_id"] is None:
        return None
    return {field: row[f"{prefix}{field}"] for field in fields if field != "place_id"}
