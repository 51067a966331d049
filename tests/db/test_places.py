"""Bulk place writes: idempotent, deduplicated, linked, and all-or-nothing with the transaction."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from areafetch.areas import Place
from areafetch.config import Settings
from areafetch.db import create_engine
from areafetch.db.areas import delete_area
from areafetch.db.places import COPY_MIN_PLACES, upsert_area_places
from areafetch.db.tables import area_places, areas, places


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


# Below COPY_MIN_PLACES the places travel as arrays, from it on they are staged with COPY.
SIZES = pytest.mark.parametrize("count", [10, COPY_MIN_PLACES], ids=["arrays", "copy"])


@SIZES
async def test_duplicates_within_one_call_are_written_once_and_the_last_wins(
    engine: AsyncEngine, count: int
) -> None:
    area_id = await new_area(engine)
    prefix = uuid.uuid4().hex[:8]
    batch = make_places(count, prefix=prefix)

    async with engine.begin() as conn:
        written = await upsert_area_places(
            conn, area_id=area_id, places=batch + make_places(5, prefix=prefix, name="last")
        )

    assert written == count
    assert await counts(engine, area_id, prefix) == (count, count)
    async with engine.connect() as conn:
        names = (
            await conn.execute(select(places.c.name).where(places.c.source_id == f"node/{prefix}4"))
        ).one()
    assert names == ("last 4",)


@SIZES
async def test_rolled_back_transaction_leaves_nothing(engine: AsyncEngine, count: int) -> None:
    area_id = await new_area(engine)
    prefix = uuid.uuid4().hex[:8]

    async def write_then_crash() -> None:
        async with engine.begin() as conn:
            await upsert_area_places(conn, area_id=area_id, places=make_places(count, prefix=prefix))
            raise RuntimeError("crash before the tile is marked done")

    with pytest.raises(RuntimeError, match="crash"):
        await write_then_crash()

    assert await counts(engine, area_id, prefix) == (0, 0)


async def test_two_staged_calls_in_one_transaction_commit_together(engine: AsyncEngine) -> None:
    area_id = await new_area(engine)
    first, second = uuid.uuid4().hex[:8], uuid.uuid4().hex[:8]

    async with engine.begin() as conn:
        await upsert_area_places(conn, area_id=area_id, places=make_places(COPY_MIN_PLACES, prefix=first))
        await upsert_area_places(conn, area_id=area_id, places=make_places(COPY_MIN_PLACES, prefix=second))

    assert (await counts(engine, area_id, first))[0] == COPY_MIN_PLACES
    assert await counts(engine, area_id, second) == (COPY_MIN_PLACES, 2 * COPY_MIN_PLACES)


async def test_arrays_and_copy_store_the_same_values(engine: AsyncEngine) -> None:
    area_id = await new_area(engine)
    odd = Place(
        source="google_places",
        source_id="ChIJ-ÅäÖ-'quote'-\\-\"",
        name=None,
        category="café",
        lon=-179.9999999,
        lat=89.1234567,
        attributes={"nested": {"list": [1, 2.5, None, True]}, "text": 'Töölö \n "x" \\', "empty": {}},
    )
    stored = []
    for count in (1, COPY_MIN_PLACES):
        prefix = uuid.uuid4().hex[:8]
        place = odd.model_copy(update={"source_id": f"{prefix}{odd.source_id}"})
        filler = make_places(count - 1, prefix=prefix)
        async with engine.begin() as conn:
            await upsert_area_places(conn, area_id=area_id, places=[*filler, place])
        async with engine.connect() as conn:
            row = (await conn.execute(select(places).where(places.c.source_id == place.source_id))).one()
        stored.append((row.name, row.category, row.lon, row.lat, row.attributes))

    assert stored[0] == stored[1] == (None, "café", -179.9999999, 89.1234567, odd.attributes)


async def test_staging_outside_a_transaction_is_refused(engine: AsyncEngine) -> None:
    area_id = await new_area(engine)
    prefix = uuid.uuid4().hex[:8]

    async with engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        with pytest.raises(RuntimeError, match="needs a transaction"):
            await upsert_area_places(
                autocommit, area_id=area_id, places=make_places(COPY_MIN_PLACES, prefix=prefix)
            )

    assert await counts(engine, area_id, prefix) == (0, 0)


async def test_a_missing_area_is_refused_and_nothing_written(engine: AsyncEngine) -> None:
    prefix = uuid.uuid4().hex[:8]
    missing = uuid.uuid4()

    with pytest.raises(LookupError, match="no area"):
        async with engine.begin() as conn:
            await upsert_area_places(conn, area_id=missing, places=make_places(10, prefix=prefix))

    assert await counts(engine, missing, prefix) == (0, 0)


async def test_deleting_an_area_deletes_its_links_but_not_the_places(engine: AsyncEngine) -> None:
    area_id = await new_area(engine)
    prefix = uuid.uuid4().hex[:8]
    async with engine.begin() as conn:
        await upsert_area_places(conn, area_id=area_id, places=make_places(COPY_MIN_PLACES, prefix=prefix))

    async with engine.begin() as conn:
        await delete_area(conn, area_id=area_id)

    assert await counts(engine, area_id, prefix) == (COPY_MIN_PLACES, 0)


async def test_a_plain_sql_delete_of_areas_takes_their_links_too(engine: AsyncEngine) -> None:
    # The links have no foreign key (migration 0004); a statement trigger does the cascade.
    first, second = await new_area(engine), await new_area(engine)
    prefix = uuid.uuid4().hex[:8]
    for area_id in (first, second):
        async with engine.begin() as conn:
            await upsert_area_places(conn, area_id=area_id, places=make_places(15, prefix=prefix))

    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM areas WHERE id = ANY(:ids)"), {"ids": [first, second]})

    assert await counts(engine, first, prefix) == (15, 0)
    assert await counts(engine, second, prefix) == (15, 0)


async def test_deleting_an_area_waits_for_a_write_in_progress_and_takes_its_links(
    engine: AsyncEngine,
) -> None:
    area_id = await new_area(engine)
    prefix = uuid.uuid4().hex[:8]
    async with engine.begin() as writer:
        await upsert_area_places(conn=writer, area_id=area_id, places=make_places(20, prefix=prefix))
        deleting = asyncio.create_task(_delete_area(engine, area_id))
        await asyncio.sleep(0.3)
        assert not deleting.done()  # blocked by the writer's lock on the area
    await asyncio.wait_for(deleting, 10)

    assert await counts(engine, area_id, prefix) == (20, 0)


async def _delete_area(engine: AsyncEngine, area_id: uuid.UUID) -> None:
    async with engine.begin() as conn:
        await delete_area(conn, area_id=area_id)
