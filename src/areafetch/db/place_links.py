"""Conflation's links of an area: written whole when the area is finalised, read as merged places.

A merged page is a keyset page over the area's places that start a group (those with no link row:
a place no other source has, or a group's smallest id), so it costs the same on page 500 as on page
1; the other places of the page's groups are read by group in one more query.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Collection, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from areafetch.conflation import Link
from areafetch.conflation.merged import LinkedRow
from areafetch.db.place_reads import PlaceRow, place_row, read_area_places
from areafetch.db.tables import area_places, place_links, places
from areafetch.tracing import traced_write

__all__ = ["area_place_pages", "read_merged_page", "replace_links"]

_INSERT_BATCH = 5000


@traced_write("replace", "place_links")
async def replace_links(conn: AsyncConnection, *, area_id: uuid.UUID, links: Sequence[Link]) -> None:
    """The area's links become `links` (a retried or re-finalised area is linked afresh)."""
    await conn.execute(delete(place_links).where(place_links.c.area_id == area_id))
    rows = [
        {
            "area_id": area_id,
            "place_id": link.place_id,
            "linked_with": link.linked_with,
            "group_id": link.group_id,
            "score": link.score,
            "reasons": link.reasons,
        }
        for link in links
    ]
    for start in range(0, len(rows), _INSERT_BATCH):
        await conn.execute(insert(place_links), rows[start : start + _INSERT_BATCH])


async def area_place_pages(
    conn: AsyncConnection, *, area_id: uuid.UUID, page_size: int = 5000
) -> AsyncIterator[list[PlaceRow]]:
    """Every place of the area, a keyset page at a time."""
    after = 0
    while rows := await read_area_places(conn, area_id=area_id, after=after, limit=page_size):
        yield rows
        after = rows[-1].id


async def read_merged_page(
    conn: AsyncConnection,
    *,
    area_id: uuid.UUID,
    after: int = 0,
    limit: int,
    categories: Collection[str] = (),
    sources: Collection[str] = (),
) -> list[list[LinkedRow]]:
    """Up to `limit` groups whose id (smallest place id) is above `after`, in id order; a group is
    kept when any of its places is of one of `categories` and `sources` (empty: any)."""
    starts = (
        select(area_places.c.place_id)
        .where(area_places.c.area_id == area_id, area_places.c.place_id > after)
        .where(
            ~exists().where(
                place_links.c.area_id == area_id, place_links.c.place_id == area_places.c.place_id
            )
        )
        .order_by(area_places.c.place_id)
        .limit(limit)
    )
    wanted = _wanted(categories, sources)
    if wanted is not None:
        starts = starts.where(_group_has(area_id, wanted))
    group_ids = list((await conn.execute(starts)).scalars())
    if not group_ids:
        return []
    return await _groups(conn, area_id, group_ids)


def _wanted(categories: Collection[str], sources: Collection[str]) -> ColumnElement[bool] | None:
    conditions = []
    if categories:
        conditions.append(places.c.category.in_(sorted(categories)))
    if sources:
        conditions.append(places.c.source.in_(sorted(sources)))
    return and_(*conditions) if conditions else None


def _group_has(area_id: uuid.UUID, wanted: ColumnElement[bool]) -> ColumnElement[bool]:
    """The group starting at the outer query's place has a place that is `wanted`."""
    start = area_places.c.place_id
    member = exists().where(
        place_links.c.area_id == area_id,
        place_links.c.group_id == start,
        places.c.id == place_links.c.place_id,
        wanted,
    )
    return or_(exists().where(places.c.id == start, wanted), member)


async def _groups(conn: AsyncConnection, area_id: uuid.UUID, group_ids: list[int]) -> list[list[LinkedRow]]:
    members = await conn.execute(
        select(place_links).where(place_links.c.area_id == area_id, place_links.c.group_id.in_(group_ids))
    )
    links: dict[int, Any] = {row.place_id: row for row in members}
    rows = await _rows(conn, [*group_ids, *links])
    groups: dict[int, list[LinkedRow]] = {group_id: [LinkedRow(rows[group_id])] for group_id in group_ids}
    for place_id, link in links.items():
        groups[link.group_id].append(LinkedRow(rows[place_id], link.linked_with, link.score, link.reasons))
    return [groups[group_id] for group_id in group_ids]


async def _rows(conn: AsyncConnection, ids: list[int]) -> dict[int, PlaceRow]:
    result = await conn.execute(select(places).where(places.c.id.in_(ids)))
    return {row.id: place_row(row) for row in result}
