"""An area's BullMQ flow: one finalise job (the parent) over one fetch job per tile (its children)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis

from areafetch.areas import fetch_job_id, finalise_job_id
from areafetch.config import Settings
from areafetch.constants import AREAS_QUEUE
from areafetch.jobs import FETCH_TILE_SPEC, FINALISE_AREA_SPEC, AreaRef, FetchTilePayload
from areafetch.queue.producer import default_job_options

__all__ = ["add_area_flow"]


async def add_area_flow(
    flows: Any, redis: Redis, settings: Settings, area_id: uuid.UUID, tiles: Sequence[tuple[str, str]]
) -> None:
    """Add the finalise job of `area_id` with a fetch job per (source, tile id) under it, once:
    a retried plan job finds the flow there already and adds nothing.

    `flows` is a `bullmq.FlowProducer`."""
    parent_id = finalise_job_id(area_id)
    if await redis.exists(f"{settings.queue_prefix}:{AREAS_QUEUE}:{parent_id}"):
        return
    child_options = {**default_job_options(settings), "failParentOnFailure": True}
    children = [
        {
            "name": FETCH_TILE_SPEC.name,
            "queueName": AREAS_QUEUE,
            "data": FETCH_TILE_SPEC.dump_payload(
                FetchTilePayload(area_id=area_id, source=source, tile_id=tile_id)
            ),
            "opts": {**child_options, "jobId": fetch_job_id(area_id, source, tile_id)},
        }
        for source, tile_id in tiles
    ]
    await flows.add(
        {
            "name": FINALISE_AREA_SPEC.name,
            "queueName": AREAS_QUEUE,
            "data": FINALISE_AREA_SPEC.dump_payload(AreaRef(area_id=area_id)),
            "opts": {**default_job_options(settings), "jobId": parent_id},
            "children": children,
        }
    )
