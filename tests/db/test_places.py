"""Bulk place writes: idempotent, deduplicated, linked, and all-or-nothing with the transaction."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from areafetch.config import Settings
from areafetch.db import create_engine
from areafetch.db.places import upsert_area_places
from areafetch.db.tables import area_places, areas, places
from areafetch.providers.base import Place


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.database_url)
    yield engine
    await engine.dispose()


async def new_area(engine: AsyncEngine) -> uuid.UUID:
    area_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            insert(areas).values(
                id=area_id,
                name="t",
                geometry={"type": "Polygon", "coordinates": []},
                bbox=[0.0, 0.0, 1.0, 1.0],
                area_km2=1.0,
                sources=["overpass"],
                categories=["cafe"],
            )
        )
    return area_id


def make_places(count: int, *, prefix: str, name: str = "x") -> list[Place]:
    return [
        Place(
            source="overpass",
            source_id=f"node/{prefix}{i}",
            name=f"{name} {i}",
            category="cafe",
            lon=24.9 + i * 1e-6,
            lat=60.1,
            attributes={"amenity": "cafe", "i": i},
        )
        for i in range(count)
    ]


async def counts(engine: AsyncEngine, area_id: uuid.UUID, prefix: str) -> tuple[int, int]:
    async with engine.connect() as conn:
        stored = await conn.scalar(
            select(func.count()).select_from(places).where(places.c.source_id.like(f"node/{prefix}%"))
        )
        linked = await conn.scalar(
            select(func.count()).select_from(area_places).where(area_places.c.area_id == area_id)
        )
    return int(stored or 0), int(linked or 0)


async def test_upsert_twice_stores_each_place_once_and_updates_it(engine: AsyncEngine) -> None:
    area_id = await new_area(engine)
    prefix = uuid.uuid4().hex[:8]
    async with engine.begin() as conn:
        written = await upsert_area_places(
            conn, area_id=area_id, places=make_places(2500, prefix=prefix), batch_size=1000
        )
    async with engine.begin() as conn:
        await upsert_area_places(
            conn, area_id=area_id, places=make_places(2500, prefix=prefix, name="renamed")
        )

    assert written == 2500
    assert await counts(engine, area_id, prefix) == (2500, 2500)
    async with engine.connect() as conn:
        row = (await conn.execute(select(places).where(places.c.source_id == f"node/{prefix}7"))).one()
    assert (row.name, row.attributes) == ("renamed 7", {"amenity": "cafe", "i": 7})
    async with engine.begin() as conn:
        await conn.execute(delete(areas).where(areas.c.id == area_id))


async def test_duplicates_within_one_call_are_written_once(engine: AsyncEngine) -> None:
    area_id = await new_area(engine)
    prefix = uuid.uuid4().hex[:8]
    batch = make_places(10, prefix=prefix)

    async with engine.begin() as conn:
        written = await upsert_area_places(conn, area_id=area_id, places=batch + batch[:5])

    assert written == 10
    assert await counts(engine, area_id, prefix) == (10, 10)


async def test_rolled_back_transaction_leaves_nothing(engine: AsyncEngine) -> None:
    area_id = await new_area(engine)
    prefix = uuid.uuid4().hex[:8]

    async def write_then_crash() -> None:
        async with engine.begin() as conn:
            await upsert_area_places(conn, area_id=area_id, places=make_places(100, prefix=prefix))
            raise RuntimeError("crash before the tile is marked done")

    with pytest.raises(RuntimeError, match="crash"):
        await write_then_crash()

    assert await counts(engine, area_id, prefix) == (0, 0)
