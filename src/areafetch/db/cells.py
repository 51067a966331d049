"""Split tiles: a tile the upstream found too heavy is replaced by children, each done on its own.

The parent row stays with state `split` (its call counted on it and on the area); the children are
new rows `<parent>/<k>` sharing the parent's weight, so the area's `work_done / work_total` never
falls. Splitting is one transaction; each child's places and `done` mark are another
(`areas.complete_tile`), so a retried job fetches exactly the children not done yet.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from areafetch.db.tables import areas, tile_and_cells, tiles

__all__ = ["note_incomplete", "pending_leaves", "split_tile"]


async def split_tile(
    conn: AsyncConnection,
    *,
    area_id: uuid.UUID,
    source: str,
    tile_id: str,
    children: Sequence[tuple[str, dict[str, Any]]],
    upstream_calls: int,
    reason: str,
) -> bool:
    """Mark a pending tile `split` and add its children (id, geometry); False if it was not pending."""
    parent = await conn.execute(
        update(tiles)
        .where(
            tiles.c.area_id == area_id,
            tiles.c.source == source,
            tiles.c.tile_id == tile_id,
            tiles.c.state == "pending",
        )
        .values(state="split", upstream_calls=upstream_calls, failed_reason=reason, updated_at=func.now())
        .returning(tiles.c.weight)
    )
    weight = parent.scalar()
    if weight is None:
        return False
    if children:
        share = weight / len(children)
        await conn.execute(
            pg_insert(tiles)
            .values(
                [
                    {
                        "area_id": area_id,
                        "source": source,
                        "tile_id": child,
                        "geometry": geometry,
                        "weight": share,
                    }
                    for child, geometry in children
                ]
            )
            .on_conflict_do_nothing()
        )
    await conn.execute(
        update(areas)
        .where(areas.c.id == area_id)
        .values(
            tiles_total=areas.c.tiles_total + len(children) - 1,
            upstream_calls=areas.c.upstream_calls + upstream_calls,
        )
    )
    return True


async def pending_leaves(
    conn: AsyncConnection, *, area_id: uuid.UUID, source: str, tile_id: str
) -> list[dict[str, Any]]:
    """The tile itself if pending, else its descendants still pending, in id order."""
    rows = await conn.execute(
        select(tiles.c.tile_id, tiles.c.geometry, tiles.c.failed_reason)
        .where(tile_and_cells(area_id, source, tile_id), tiles.c.state == "pending")
        .order_by(tiles.c.tile_id)
    )
    return [dict(row._mapping) for row in rows]


async def note_incomplete(
    conn: AsyncConnection, *, area_id: uuid.UUID, source: str, tile_id: str, reason: str
) -> None:
    """Remember on a pending tile that its last answer was incomplete (its `failed_reason`)."""
    await conn.execute(
        update(tiles)
        .where(
            tiles.c.area_id == area_id,
            tiles.c.source == source,
            tiles.c.tile_id == tile_id,
            tiles.c.state == "pending",
        )
        .values(failed_reason=reason, updated_at=func.now())
    )
