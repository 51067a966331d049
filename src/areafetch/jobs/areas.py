"""The area pipeline's jobs on the `areas` queue: plan, then one fetch per (tile, source), then finalise.

`plan` cuts the area into tiles and adds a BullMQ flow: a `finalise` parent whose children are
the `fetch` jobs, so tiles run in parallel on every worker, each retried on its own, and the
parent runs once all of them are done.
"""

from __future__ import annotations

import uuid

from pydantic import Field

from areafetch.areas.sources import Source
from areafetch.constants import AREAS_QUEUE
from areafetch.jobs.base import JobModel, JobSpec

__all__ = [
    "FETCH_TILE_SPEC",
    "FINALISE_AREA_SPEC",
    "PLAN_AREA_SPEC",
    "REFRESH_AREA_SPEC",
    "RETENTION_SPEC",
    "AreaRef",
    "AreaSummary",
    "FetchTilePayload",
    "FetchTileResult",
    "PlanAreaResult",
    "RefreshResult",
    "RetentionPayload",
    "RetentionResult",
]


class AreaRef(JobModel):
    """A job about one area (plan, finalise): everything else is read from the database."""

    area_id: uuid.UUID


class PlanAreaResult(JobModel):
    tiles: int = Field(ge=0, description="fetch jobs added")
    upstream_calls: dict[Source, int] = Field(description="planned calls per source")


class FetchTilePayload(JobModel):
    area_id: uuid.UUID
    source: Source
    tile_id: str = Field(min_length=1, max_length=512)


class FetchTileResult(JobModel):
    places: int = Field(ge=0, description="distinct places inside the area that the tile found")
    upstream_calls: int = Field(ge=0)
    splits: int = Field(ge=0, description="tiles or circles split because they hit an upstream limit")
    already_done: bool = Field(default=False, description="a retry found the tile stored already")
    cancelled: bool = Field(default=False, description="the area was cancelled: no more calls were made")
    reused: bool = Field(default=False, description="served from an earlier area's places (no call)")


class AreaSummary(JobModel):
    places_total: int
    places_by_source: dict[str, int]
    places_by_category: dict[str, int]
    places_by_source_and_category: dict[str, dict[str, int]]
    area_km2: float
    density_per_km2: float
    bbox: tuple[float, float, float, float] = Field(description="west, south, east north of the area")
    places_bbox: tuple[float, float, float, float] | None = Field(description="bbox of the places found")
    tiles: int
    tiles_failed: int = Field(default=0, ge=0, description="tiles that failed for good (a partial area)")
    tiles_reused: int = Field(default=0, ge=0, description="tiles served from an earlier area (no call)")
    upstream_calls: int
    duration_s: float
    google_calls_billed: int = Field(default=0, ge=0, description="Nearby Search calls Google billed")
    google_usd: float = Field(default=0.0, ge=0, description="their list price (AREAFETCH_GOOGLE_PRICES)")
    places_merged: int | None = Field(
        default=None, ge=0, description="real places once the sources' records of one place are linked"
    )
    places_in_several_sources: int = Field(
        default=0, ge=0, description="real places more than one source has"
    )
    places_only_in_source: dict[str, int] = Field(
        default_factory=dict, description="per source, the real places only it has"
    )


PLAN_AREA_SPEC: JobSpec[AreaRef, PlanAreaResult] = JobSpec(
    queue=AREAS_QUEUE, name="plan", payload_model=AreaRef, result_model=PlanAreaResult
)
FETCH_TILE_SPEC: JobSpec[FetchTilePayload, FetchTileResult] = JobSpec(
    queue=AREAS_QUEUE, name="fetch", payload_model=FetchTilePayload, result_model=FetchTileResult
)
FINALISE_AREA_SPEC: JobSpec[AreaRef, AreaSummary] = JobSpec(
    queue=AREAS_QUEUE, name="finalise", payload_model=AreaRef, result_model=AreaSummary
)


class RefreshResult(JobModel):
    """A scheduled refresh: the run it started, or why it started none."""

    area_id: uuid.UUID | None = Field(description="the new run's area id")
    run: int | None = Field(default=None, ge=2)
    skipped: str | None = Field(default=None, description="why no run was started (one still goes)")


REFRESH_AREA_SPEC: JobSpec[AreaRef, RefreshResult] = JobSpec(
    queue=AREAS_QUEUE, name="refresh", payload_model=AreaRef, result_model=RefreshResult
)


class RetentionPayload(JobModel):
    """The daily retention job: nothing to say, it reads the setting."""


class RetentionResult(JobModel):
    places_expired: int = Field(ge=0, description="Google places whose content was deleted")
    snapshots_expired: int = Field(ge=0, description="their copies kept by runs (run_places)")


RETENTION_SPEC: JobSpec[RetentionPayload, RetentionResult] = JobSpec(
    queue=AREAS_QUEUE, name="google-retention", payload_model=RetentionPayload, result_model=RetentionResult
)
