"""Bulk writes of places: idempotent upserts, in the caller's transaction.

The places travel by ``COPY`` (binary, asyncpg's ``copy_records_to_table``) into a temporary
staging table that lives only as long as the call, and one statement upserts them on
(source, source_id) and links them to the area. Everything runs on the caller's connection and
inside the caller's transaction, so a tile's places and its `done` mark commit together or not at
all. Calls with only a few places skip the staging table (whose creation costs more than it
saves) and send the rows as arrays (``unnest``) instead; both ways write the same.

Why ``COPY``: for a large call it takes about 40% off the client's work (no SQLAlchemy and
asyncpg encoding of seven arrays per batch of 2,000) and spares the server decoding the arrays
into a temporary file (``unnest`` spills); the upsert and the links cost the server the same
either way (bench/bulk_writes.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import Float, Text, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from areafetch.areas import Place
from areafetch.db.engine import driver_connection
from areafetch.tracing import traced_write

__all__ = ["COPY_MIN_PLACES", "DEFAULT_BATCH_SIZE", "upsert_area_places"]

DEFAULT_BATCH_SIZE = 2000
# From this many places on, a call stages them with COPY; below, creating the staging table costs
# more than COPY saves and the places travel as arrays.
COPY_MIN_PLACES = 1000

# json.dumps(..., separators=...) builds an encoder per call; one will do.
_dumps = json.JSONEncoder(separators=(",", ":")).encode

_COLUMNS = ("source", "source_id", "name", "category", "lon", "lat", "attributes")
_STAGING = "areafetch_places_in"

_UPSERT = """
    INSERT INTO places (source, source_id, name, category, lon, lat, attributes, fetched_at)
    SELECT source, source_id, name, category, lon, lat, attributes::jsonb, now() FROM {rows}
    ON CONFLICT (source, source_id) DO UPDATE SET
        name = EXCLUDED.name, category = EXCLUDED.category, lon = EXCLUDED.lon, lat = EXCLUDED.lat,
        attributes = EXCLUDED.attributes, fetched_at = EXCLUDED.fetched_at, expired_at = NULL
    RETURNING id
"""
_LINK = """
    WITH upserted AS ({upsert})
    INSERT INTO area_places (area_id, place_id)
    SELECT :area_id, id FROM upserted
    ON CONFLICT DO NOTHING
"""

_LOCK_AREA = text("SELECT 1 FROM areas WHERE id = :area_id FOR KEY SHARE").bindparams(
    bindparam("area_id", type_=UUID(as_uuid=True))
)
_CREATE_STAGING = text(
    f"CREATE TEMPORARY TABLE {_STAGING} (source text, source_id text, name text, category text,"
    " lon float8, lat float8, attributes text) ON COMMIT DROP"
)
_DROP_STAGING = text(f"DROP TABLE {_STAGING}")
_UPSERT_STAGED_AND_LINK = text(_LINK.format(upsert=_UPSERT.format(rows=_STAGING))).bindparams(
    bindparam("area_id", type_=UUID(as_uuid=True))
)
_UPSERT_ARRAYS_AND_LINK = text(
    _LINK.format(
        upsert=_UPSERT.format(
            rows="unnest(:sources, :source_ids, :names, :categories, :lons, :lats, :attributes)"
            " AS t(source, source_id, name, category, lon, lat, attributes)"
        )
    )
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


@traced_write("upsert", "places")
async def upsert_area_places(
    conn: AsyncConnection,
    *,
    area_id: uuid.UUID,
    places: Iterable[Place],
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> int:
    """Upsert `places` and link them to the area; returns how many distinct places were written.

    Args:
        conn: a connection inside a transaction (the places commit with it).
        area_id: the area the places are linked to.
        places: the places; for places with the same (source, source_id) the last one wins.
        batch_size: places per statement when they are sent as arrays (fewer than
            `COPY_MIN_PLACES`); staged places are upserted in one statement.

    Raises:
        LookupError: the area does not exist (any more).
    """
    unique = _dedupe(places)
    await _lock_area(conn, area_id)
    if len(unique) >= COPY_MIN_PLACES:
        await _upsert_staged(conn, area_id, unique)
        return len(unique)
    for start in range(0, len(unique), batch_size):
        await conn.execute(_UPSERT_ARRAYS_AND_LINK, _arrays(unique[start : start + batch_size], area_id))
    return len(unique)


async def _lock_area(conn: AsyncConnection, area_id: uuid.UUID) -> None:
    # What the foreign key did once per link (migration 0004), once per call: the area must
    # exist, and stays until this transaction ends (delete_area waits for it).
    if await conn.scalar(_LOCK_AREA, {"area_id": area_id}) is None:
        raise LookupError(f"no area {area_id} to link places to")


def _dedupe(places: Iterable[Place]) -> list[Place]:
    # One statement may not upsert the same row twice; the last answer for a key wins.
    by_key = {(place.source, place.source_id): place for place in places}
    return list(by_key.values())


async def _upsert_staged(conn: AsyncConnection, area_id: uuid.UUID, places: Sequence[Place]) -> None:
    await conn.execute(_CREATE_STAGING)  # through SQLAlchemy: this also begins its transaction
    driver = await driver_connection(conn)
    if not driver.is_in_transaction():
        raise RuntimeError("upsert_area_places needs a transaction (engine.begin()), not autocommit")
    await driver.copy_records_to_table(_STAGING, records=_records(places), columns=_COLUMNS)
    await conn.execute(_UPSERT_STAGED_AND_LINK, {"area_id": area_id})
    await conn.execute(_DROP_STAGING)  # ON COMMIT DROP is too late for a second call in this transaction


def _records(places: Sequence[Place]) -> list[tuple[object, ...]]:
    return [
        (
            place.source,
            place.source_id,
            place.name,
            place.category,
            place.lon,
            place.lat,
            _dumps(place.attributes),
        )
        for place in places
    ]


def _arrays(batch: Sequence[Place], area_id: uuid.UUID) -> dict[str, object]:
    return {
        "sources": [place.source for place in batch],
        "source_ids": [place.source_id for place in batch],
        "names": [place.name for place in batch],
        "categories": [place.category for place in batch],
        "lons": [place.lon for place in batch],
        "lats": [place.lat for place in batch],
        "attributes": [_dumps(place.attributes) for place in batch],
        "area_id": area_id,
    }
