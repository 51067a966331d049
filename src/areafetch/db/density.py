"""What planning learned per source: place density by coarse cell and category, and cell capacity."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import case, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from areafetch.db.tables import cell_capacity, place_density

__all__ = ["densities", "failed_capacity", "record_capacity", "record_density"]


async def record_density(
    conn: AsyncConnection,
    *,
    source: str,
    counts: Mapping[tuple[str, str], int],
    observed_km2: Mapping[str, float],
    categories: Sequence[str],
) -> None:
    """Remember what one fetched cell held: for each coarse cell it covered and each category asked
    for, its places (zero too) over the km² covered. A larger observation replaces a smaller one."""
    rows = [
        {
            "source": source,
            "category": category,
            "cell": key,
            "places": counts.get((category, key), 0),
            "observed_km2": km2,
        }
        for key, km2 in observed_km2.items()
        for category in categories
    ]
    if not rows:
        return
    statement = pg_insert(place_density).values(rows)
    excluded = statement.excluded
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=["source", "category", "cell"],
            set_={"places": excluded.places, "observed_km2": excluded.observed_km2, "updated_at": func.now()},
            where=excluded.observed_km2 >= place_density.c.observed_km2,
        )
    )


async def densities(
    conn: AsyncConnection, *, source: str, categories: Sequence[str], cells: Sequence[str]
) -> dict[str, float]:
    """Places per km² of the categories together, per coarse cell (cells never seen are left out)."""
    if not cells:
        return {}
    rows = await conn.execute(
        select(place_density.c.cell, func.sum(place_density.c.places / place_density.c.observed_km2))
        .where(
            place_density.c.source == source,
            place_density.c.category.in_(list(categories)),
            place_density.c.cell.in_(list(cells)),
            place_density.c.observed_km2 > 0,
        )
        .group_by(place_density.c.cell)
    )
    return {cell: float(density) for cell, density in rows}


async def record_capacity(
    conn: AsyncConnection, *, source: str, limits: str, failed_places: int | None, answered_places: int | None
) -> None:
    """Keep the fewest places of a cell that drew a remark and the most of one that was answered.

    A remark on no more places than a cell that was answered is not kept (see `failed_capacity`)."""
    if failed_places is not None and answered_places is not None and failed_places <= answered_places:
        failed_places = None
    statement = pg_insert(cell_capacity).values(
        source=source, limits=limits, failed_places=failed_places, answered_places=answered_places
    )
    excluded = statement.excluded
    answered = func.greatest(cell_capacity.c.answered_places, excluded.answered_places)
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=["source", "limits"],
            set_={
                "failed_places": case(
                    (
                        excluded.failed_places > func.coalesce(answered, 0),
                        func.least(cell_capacity.c.failed_places, excluded.failed_places),
                    ),
                    else_=cell_capacity.c.failed_places,
                ),
                "answered_places": answered,
                "updated_at": func.now(),
            },
        )
    )


async def failed_capacity(conn: AsyncConnection, *, source: str, limits: str) -> int | None:
    """The fewest places of a cell the server could not answer under these limits, if ever seen, and
    only when it is more than the most places of a cell it did answer: a remark on a load the server
    has answered before says it was busy then, not that such a cell is too heavy (one chaos-injected
    timeout on a 20-place cell had every later area cut into 20-place cells)."""
    row = (
        await conn.execute(
            select(cell_capacity.c.failed_places, cell_capacity.c.answered_places).where(
                cell_capacity.c.source == source, cell_capacity.c.limits == limits
            )
        )
    ).first()
    if row is None or row.failed_places is None:
        return None
    if row.answered_places is not None and row.failed_places <= row.answered_places:
        return None
    return int(row.failed_places)
