"""Google's retention: content past the setting is deleted, the place id and an `expired_at` mark
kept; OSM places, fresh Google places and other columns are untouched; a later fetch restores it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from areafetch.areas import Place
from areafetch.config import Settings
from areafetch.db import create_engine
from areafetch.db.places import upsert_area_places
from areafetch.db.retention import expire_google_places
from areafetch.db.runs import snapshot_run_places
from areafetch.db.tables import places, run_places
from tests.db.test_places import new_area


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.database_url)
    yield engine
    await engine.dispose()


def place(source: str, source_id: str) -> Place:
    return Place(
        source=source,
        source_id=source_id,
        name=f"name of {source_id}",
        category="cafe",
        lon=24.95,
        lat=60.17,
        attributes={"types": ["cafe"]},
    )


async def row(engine: AsyncEngine, source_id: str) -> dict[str, object]:
    async with engine.connect() as conn:
        found = (await conn.execute(select(places).where(places.c.source_id == source_id))).one()
    return dict(found._mapping)


async def test_old_google_content_is_deleted_keeping_the_place_id_and_a_refetch_restores_it(
    engine: AsyncEngine,
) -> None:
    tag = uuid.uuid4().hex[:8]
    old_google, new_google, old_osm = f"g-old-{tag}", f"g-new-{tag}", f"node/{tag}"
    area_id = await new_area(engine)
    async with engine.begin() as conn:
        await upsert_area_places(
            conn,
            area_id=area_id,
            places=[
                place("google_places", old_google),
                place("google_places", new_google),
                place("overpass", old_osm),
            ],
        )
        await snapshot_run_places(conn, area_id=area_id)
        await conn.execute(
            update(places)
            .where(places.c.source_id.in_([old_google, old_osm]))
            .values(fetched_at=func.now() - func.make_interval(0, 0, 0, 31))
        )

    async with engine.begin() as conn:
        assert await expire_google_places(conn, older_than_days=30, batch=10_000) >= (1, 1)
    async with engine.begin() as conn:  # idempotent: nothing of ours is due twice
        await expire_google_places(conn, older_than_days=30, batch=10_000)

    expired = await row(engine, old_google)
    assert expired["source_id"] == old_google
    assert (expired["name"], expired["lon"], expired["lat"], expired["attributes"]) == (None, None, None, {})
    assert expired["expired_at"] is not None
    for kept in (new_google, old_osm):
        fresh = await row(engine, kept)
        assert (fresh["name"], fresh["lon"], fresh["expired_at"]) == (f"name of {kept}", 24.95, None)
    async with engine.connect() as conn:
        copy = (
            await conn.execute(
                select(run_places.c.name, run_places.c.lon).where(
                    run_places.c.area_id == area_id, run_places.c.place_id == expired["id"]
                )
            )
        ).one()
    assert tuple(copy) == (None, None)

    async with engine.begin() as conn:  # a refresh fetches it again
        await upsert_area_places(conn, area_id=area_id, places=[place("google_places", old_google)])
    restored = await row(engine, old_google)
    assert (restored["name"], restored["lon"], restored["expired_at"]) == (
        f"name of {old_google}",
        24.95,
        None,
    )
