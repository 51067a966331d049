"""Google's retention: content other than the place id is deleted once older than the setting."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from areafetch.db.tables import places, run_places

__all__ = ["expire_google_places"]

GOOGLE = "google_places"


async def expire_google_places(conn: AsyncConnection, *, older_than_days: int, batch: int) -> tuple[int, int]:
    """Delete the name, position and attributes of up to `batch` Google places fetched more than
    `older_than_days` ago (and of their copies in runs), keeping the place id; (places, copies)."""
    due = (
        select(places.c.id)
        .where(
            places.c.source == GOOGLE,
            places.c.expired_at.is_(None),
            places.c.fetched_at < func.now() - func.make_interval(0, 0, 0, older_than_days),
        )
        .limit(batch)
        .with_for_update(skip_locked=True)  # a fetch upserting one now keeps it fresh
    )
    expired = await conn.execute(
        update(places)
        .where(places.c.id.in_(due.scalar_subquery()))
        .values(name=None, lon=None, lat=None, attributes={}, expired_at=func.now())
        .returning(places.c.id)
    )
    ids = [row.id for row in expired]
    if not ids:
        return 0, 0
    copies = await conn.execute(
        update(run_places).where(run_places.c.place_id.in_(ids)).values(name=None, lon=None, lat=None)
    )
    return len(ids), int(copies.rowcount or 0)
