"""The job ids of an area's jobs: derived from the area id, so a retried step finds its jobs again."""

from __future__ import annotations

import uuid

__all__ = ["fetch_job_id", "finalise_job_id", "plan_job_id", "refresh_scheduler_id", "settle_job_id"]


def plan_job_id(area_id: uuid.UUID) -> str:
    return f"{area_id}.plan"


def finalise_job_id(area_id: uuid.UUID) -> str:
    return f"{area_id}.finalise"


def fetch_job_id(area_id: uuid.UUID, source: str, tile_id: str) -> str:
    return f"{area_id}.{source}.{tile_id}"


def settle_job_id(area_id: uuid.UUID) -> str:
    """A finalise job added on its own (not as a flow's parent) when the flow's finalise failed
    although every tile was stored (a fetch job failed by BullMQ's stall check after its commit)."""
    return f"{area_id}.settle"


def refresh_scheduler_id(area_id: uuid.UUID) -> str:
    """The BullMQ job scheduler that refreshes an area on its schedule (one per area)."""
    return f"{area_id}.refresh"
