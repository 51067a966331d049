"""What the area jobs share: loading an area, and failing it or one of its tiles with a reason."""

from __future__ import annotations

import uuid
from typing import Any

from bullmq import UnrecoverableError

from areafetch.db import areas as area_queries
from areafetch.jobs import FetchTilePayload
from areafetch.log import get_logger
from areafetch.processors.base import JobContext

__all__ = ["fail_area", "fail_tile", "load_area", "log"]

log = get_logger("areafetch.areas")


async def load_area(ctx: JobContext, area_id: uuid.UUID) -> dict[str, Any]:
    async with ctx.resources.engine.connect() as conn:
        area = await area_queries.get_area(conn, area_id=area_id)
    if area is None:
        raise UnrecoverableError(f"no area {area_id}")
    return area


async def fail_area(ctx: JobContext, area_id: uuid.UUID, reason: str) -> None:
    log.warning("area.failed", area_id=str(area_id), reason=reason)
    async with ctx.resources.engine.begin() as conn:
        await area_queries.fail_area(conn, area_id=area_id, reason=reason)


async def fail_tile(ctx: JobContext, payload: FetchTilePayload, reason: str) -> None:
    """The tile failed for good: the area goes on with its other tiles (finalise reports it)."""
    log.warning("tile.failed", area_id=str(payload.area_id), tile=payload.tile_id, reason=reason)
    async with ctx.resources.engine.begin() as conn:
        await area_queries.fail_tile(
            conn, area_id=payload.area_id, source=payload.source, tile_id=payload.tile_id, reason=reason
        )
