"""Bulk writes of places: idempotent upserts, batched, in the caller's transaction.

One statement per batch: the rows travel as arrays (`unnest`), are upserted on
(source, source_id) and linked to the area in the same statement, so a tile's places
and its `done` mark commit together or not at all.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import Float, Text, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from areafetch.providers.base import Place

__all__ = ["DEFAULT_BATCH_SIZE", "upsert_area_places"]

DEFAULT_BATCH_SIZE = 2000

_UPSERT_AND_LINK = text(
    """
    WITH input AS (
        SELECT * FROM unnest(
            :sources, :source_ids, :names, :categories, :lons, :lats, :attributes
        ) AS t(source, source_id, name, category, lon, lat, attributes)
    ), upserted AS (
        INSERT INTO places (source, source_id, name, category, lon, lat, attributes, fetched_at)
        SELECT source, source_id, name, category, lon, lat, attributes::jsonb, now() FROM input
        ON CONFLICT (source, source_id) DO UPDATE SET
            name = EXCLUDED.name, category = EXCLUDED.category, lon = EXCLUDED.lon, lat = EXCLUDED.lat,
            attributes = EXCLUDED.attributes, fetched_at = EXCLUDED.fetched_at
        RETURNING id
    )
    INSERT INTO area_places (area_id, place_id)
    SELECT :area_id, id FROM upserted
    ON CONFLICT DO NOTHING
    """
).bindparams(
    bindparam("sources", type_=ARRAY(Text)),
    bindparam("source_ids", type_=ARRAY(Text)),
    bindparam("names", type_=ARRAY(Text)),
    bindparam("categories", type_=ARRAY(Text)),
    bindparam("lons", type_=ARRAY(Float)),
    bindparam("lats", type_=ARRAY(Float)),
    bindparam("attributes", type_=ARRAY(Text)),
    bindparam("area_id", type_=UUID(as_uuid=True)),
)


async def upsert_area_places(
    conn: AsyncConnection,
    *,
    area_id: uuid.UUID,
    places: Iterable[Place],
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> int:
    """Upsert `places` and link them to the area; returns how many distinct places were written."""
    unique = _dedupe(places)
    for start in range(0, len(unique), batch_size):
        await conn.execute(_UPSERT_AND_LINK, _columns(unique[start : start + batch_size], area_id))
    return len(unique)


def _dedupe(places: Iterable[Place]) -> list[Place]:
    # One statement may not upsert the same row twice; the last answer for a key wins.
    by_key = {(place.source, place.source_id): place for place in places}
    return list(by_key.values())


def _columns(batch: Sequence[Place], area_id: uuid.UUID) -> dict[str, object]:
    return {
        "sources": [place.source for place in batch],
        "source_ids": [place.source_id for place in batch],
        "names": [place.name for place in batch],
        "categories": [place.category for place in batch],
        "lons": [place.lon for place in batch],
        "lats": [place.lat for place in batch],
        "attributes": [json.dumps(place.attributes, separators=(",", ":")) for place in batch],
        "area_id": area_id,
    }
