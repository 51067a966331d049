"""Reads of an area's places: keyset pages in `places.id` order, filtered by category and source.

Pages are keyset pages (`id > after ORDER BY id LIMIT n`), so reading page 500 costs the same as
reading page 1 and a place written while someone pages is never returned twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, exists, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncConnection

from areafetch.areas.places import Place
from areafetch.db.tables import area_places, areas, places

__all__ = [
    "PlaceRow",
    "area_exists",
    "place_row",
    "places_in_bbox",
    "read_area_places",
    "stored_points",
    "stored_points_by_category",
]


@dataclass(frozen=True, slots=True)
class PlaceRow:
    """One stored place as read back; `id` is the keyset position."""

    id: int
    source: str
    source_id: str
    name: str | None
    category: str
    lon: float | None
    lat: float | None
    attributes: dict[str, Any]
    fetched_at: datetime
    expired_at: datetime | None = None
    """Google content past its retention: only the id is left."""


_PLACE_FIELDS = (
    places.c.source,
    places.c.source_id,
    places.c.name,
    places.c.category,
    places.c.lon,
    places.c.lat,
    places.c.attributes,
)
"""A place's fields as `areafetch.areas.Place` holds them."""


async def area_exists(conn: AsyncConnection, *, area_id: uuid.UUID) -> bool:
    """Whether an area with this id exists."""
    found = await conn.scalar(select(exists().where(areas.c.id == area_id)))
    return bool(found)


async def read_area_places(
    conn: AsyncConnection,
    *,
    area_id: uuid.UUID,
    after: int = 0,
    limit: int,
    categories: Collection[str] = (),
    sources: Collection[str] = (),
) -> list[PlaceRow]:
    """Up to `limit` of the area's places with `id > after`, in id order.

    Args:
        conn: the connection to read on.
        area_id: the area whose linked places are read.
        after: the keyset position: the id of the last place already read (0 for the start).
        limit: the most places to return.
        categories: only these categories; empty means all.
        sources: only these sources; empty means all.
    """
    statement = (
        select(places.c.id, *_PLACE_FIELDS, places.c.fetched_at, places.c.expired_at)
        .select_from(area_places.join(places, places.c.id == area_places.c.place_id))
        # The bound is on the link table's column so the (area_id, place_id) key serves the range scan.
        .where(area_places.c.area_id == area_id, area_places.c.place_id > after)
        .order_by(places.c.id)
        .limit(limit)
    )
    if categories:
        statement = statement.where(places.c.category.in_(sorted(categories)))
    if sources:
        statement = statement.where(places.c.source.in_(sorted(sources)))
    return [place_row(row) for row in await conn.execute(statement)]


def place_row(row: Row[Any, *tuple[Any, ...]]) -> PlaceRow:
    """A `places` row (with at least the columns of `PlaceRow`) as a `PlaceRow`."""
    return PlaceRow(
        id=row.id,
        source=row.source,
        source_id=row.source_id,
        name=row.name,
        category=row.category,
        lon=row.lon,
        lat=row.lat,
        attributes=row.attributes,
        fetched_at=row.fetched_at,
        expired_at=row.expired_at,
    )


async def stored_points(
    conn: AsyncConnection,
    *,
    sources: Collection[str],
    categories: Collection[str],
    bbox: tuple[float, float, float, float],
) -> list[tuple[float, float]]:
    """(lon, lat) of the stored places of the sources and categories within a bbox (west, south, east,
    north), once per source id (an OSM element found by Overpass and by an extract counts once)."""
    by_category = await stored_points_by_category(conn, sources=sources, categories=categories, bbox=bbox)
    return [point for points in by_category.values() for point in points]


async def stored_points_by_category(
    conn: AsyncConnection,
    *,
    sources: Collection[str],
    categories: Collection[str],
    bbox: tuple[float, float, float, float],
) -> dict[str, list[tuple[float, float]]]:
    """`stored_points`, by category."""
    west, south, east, north = bbox
    rows = await conn.execute(
        select(places.c.source_id, places.c.category, places.c.lon, places.c.lat)
        .ext(distinct_on(places.c.source_id))
        .where(
            places.c.source.in_(list(sources)),
            places.c.category.in_(list(categories)),
            places.c.lat.between(south, north),
            places.c.lon.between(west, east),
        )
    )
    by_category: dict[str, list[tuple[float, float]]] = {}
    for _, category, lon, lat in rows:
        by_category.setdefault(category, []).append((float(lon), float(lat)))
    return by_category


async def places_in_bbox(
    conn: AsyncConnection, *, area_id: uuid.UUID, source: str, bbox: tuple[float, float, float, float]
) -> list[Place]:
    """The area's places of `source` inside `bbox`."""
    west, south, east, north = bbox
    rows = await conn.execute(
        select(*_PLACE_FIELDS)
        .select_from(area_places.join(places, places.c.id == area_places.c.place_id))
        .where(
            area_places.c.area_id == area_id,
            places.c.source == source,
            places.c.lon.between(west, east),
            places.c.lat.between(south, north),
        )
    )
    return [Place.model_validate(dict(row._mapping)) for row in rows]
