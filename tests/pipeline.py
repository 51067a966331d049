"""Helpers for tests of the area pipeline: the Helsinki test area, submitting an area, reading what was stored."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import func, select

from areafetch.areas.states import FINISHED_STATES
from areafetch.config import Settings
from areafetch.db import create_engine
from areafetch.db.tables import area_places, places, tiles
from tests.fakes.google_places import GooglePlacesFake
from tests.fakes.overpass import OverpassFake
from tests.helpers import area_client, eventually

# Inside the Helsinki extract (about 24.935-24.953 E, 60.164-60.179 N), not a plain rectangle.
HELSINKI_POLYGON: dict[str, Any] = {
    "type": "Polygon",
    "coordinates": [
        [
            [24.936, 60.165],
            [24.952, 60.1655],
            [24.9525, 60.178],
            [24.944, 60.1785],
            [24.937, 60.172],
            [24.936, 60.165],
        ]
    ],
}


CATEGORIES = ["cafe", "restaurant", "bar", "bank", "pharmacy"]


OSM_FILTERS = [
    "amenity=cafe",
    "amenity=restaurant",
    "amenity=bar",
    "amenity=pub",
    "amenity=bank",
    "amenity=pharmacy",
]


# The fake allows 2 queries/s per client (arrivals at least 0.45 s apart). Grants 0.8 s apart leave
# 0.35 s for a request that leaves late on a loaded machine (every test process on 2 cores): at 1.8/s
# (0.106 s) and then 1.6/s (0.175 s) full runs still drew a 429 now and then, and the fake's ban.
OVERPASS_RATE = 1.25


def with_upstreams(
    settings: Settings, overpass: OverpassFake | None = None, google: GooglePlacesFake | None = None
) -> Settings:
    update: dict[str, Any] = {}
    if overpass is not None:
        update["overpass_url"] = overpass.interpreter_url
    if google is not None:
        update["google_places_url"] = google.url
        update["google_api_key"] = SecretStr(google.api_key)
    return settings.model_copy(update=update)


async def submit(client: httpx.AsyncClient, **body: Any) -> str:
    response = await client.post("/api/areas", json={"name": "helsinki", **body})
    assert response.status_code == 202, response.text
    area_id: str = response.json()["area_id"]
    return area_id


async def submit_and_wait(settings: Settings, **body: Any) -> tuple[str, dict[str, Any]]:
    """Submit an area through the web app and wait until it completes or fails."""
    async with area_client(settings) as client:
        area_id = await submit(client, **body)
        return area_id, await finished_area(client, area_id)


async def finished_area(
    client: httpx.AsyncClient, area_id: str, *, timeout_s: float = 120, seen: list[int] | None = None
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        area: dict[str, Any] = (await client.get(f"/api/areas/{area_id}")).json()
        if seen is not None:
            seen.append(area["progress"]["tiles_done"])
        return area if area["state"] in FINISHED_STATES else None

    return await eventually(probe, timeout_s=timeout_s, interval_s=0.1, what=f"area {area_id}")


async def stored_ids(settings: Settings, area_id: str, source: str) -> list[str]:
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(places.c.source_id)
                .select_from(area_places.join(places, places.c.id == area_places.c.place_id))
                .where(area_places.c.area_id == uuid.UUID(area_id), places.c.source == source)
            )
            return [row[0] for row in rows]
    finally:
        await engine.dispose()


async def tile_count(settings: Settings, area_id: str) -> int:
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            count = await conn.scalar(
                select(func.count()).select_from(tiles).where(tiles.c.area_id == uuid.UUID(area_id))
            )
            return int(count or 0)
    finally:
        await engine.dispose()
