"""The daily retention job: Google content past `AREAFETCH_GOOGLE_RETENTION_DAYS` is deleted, in
batches, keeping each place id and its `expired_at` mark (the Google Maps Platform terms: only place
ids may be kept indefinitely, positions at most 30 days)."""

from __future__ import annotations

from areafetch.db.retention import expire_google_places
from areafetch.jobs import RetentionPayload, RetentionResult
from areafetch.processors._shared import log
from areafetch.processors.base import JobContext

__all__ = ["expire_google_content"]

_BATCH = 5_000


async def expire_google_content(payload: RetentionPayload, ctx: JobContext) -> RetentionResult:
    days = ctx.resources.settings.google_retention_days
    total = RetentionResult(places_expired=0, snapshots_expired=0)
    while True:  # one transaction per batch: short locks, and a retried job goes on where it stopped
        async with ctx.resources.engine.begin() as conn:
            expired, copies = await expire_google_places(conn, older_than_days=days, batch=_BATCH)
        total = RetentionResult(
            places_expired=total.places_expired + expired, snapshots_expired=total.snapshots_expired + copies
        )
        if expired < _BATCH:
            break
    log.info("google.retention", days=days, **total.model_dump())
    return total
