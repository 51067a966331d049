"""What the area jobs share: loading an area, and failing it with a reason."""

from __future__ import annotations

import uuid
from typing import Any

from bullmq import UnrecoverableError

from areafetch.db import areas as area_queries
from areafetch.log import get_logger
from areafetch.processors.base import JobContext

__all__ = ["fail_area", "load_area", "log"]

log = get_logger("areafetch.areas")


async def load_area(ctx: JobContext, area_id: uuid.UUID) -> dict[str, Any]:
    async with ctx.resources.engine.connect() as conn:
        area = await area_queries.get_area(conn, area_id=area_id)
    if area is None:
        raise UnrecoverableError(f"no area {area_id}")
    return area


async def fail_area(
    ctx: JobContext, area_id: uuid.UUID, reason: str, *, tile: tuple[str, str] | None = None
) -> None:
    log.warning("area.failed", area_id=str(area_id), reason=reason)
    async with ctx.resources.engine.begin() as conn:
        await area_queries.fail_area(conn, area_id=area_id, reason=reason, tile=tile)
