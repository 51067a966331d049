"""Request bodies for `POST /api/areas` and counts of what a request stored or queued."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from areafetch.config import Settings
from areafetch.constants import AREAS_QUEUE
from areafetch.db import create_engine
from areafetch.db.tables import areas
from areafetch.queue import Queues

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[24.94, 60.17], [24.95, 60.17], [24.95, 60.175], [24.94, 60.175], [24.94, 60.17]]],
}


BOWTIE = {
    "type": "Polygon",
    "coordinates": [[[24.94, 60.17], [24.95, 60.175], [24.95, 60.17], [24.94, 60.175], [24.94, 60.17]]],
}


def body(**changes: Any) -> dict[str, Any]:
    return {"name": "test", "area": SQUARE, "sources": ["overpass"], "categories": ["cafe"], **changes}


def ring(vertices: int) -> list[list[float]]:
    import math

    points = [
        [
            24.94 + 0.01 * math.cos(2 * math.pi * i / vertices),
            60.17 + 0.005 * math.sin(2 * math.pi * i / vertices),
        ]
        for i in range(vertices)
    ]
    return [*points, points[0]]


async def stored_areas(settings: Settings) -> int:
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(areas)) or 0)
    finally:
        await engine.dispose()


async def queued(queues: Queues) -> int:
    counts = await queues.get(AREAS_QUEUE).getJobCounts("waiting", "delayed", "active", "completed", "failed")
    return sum(int(value) for value in counts.values())
