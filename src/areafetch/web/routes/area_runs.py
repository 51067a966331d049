"""Runs of an area: fetch it again (a refresh), list its runs, and what changed from one to the next."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from areafetch.areas.changes import MOVED_M, PlaceChange, place_changes
from areafetch.areas.states import UNFINISHED_STATES
from areafetch.db import areas as area_queries
from areafetch.db import runs as run_queries
from areafetch.db.engine import connection, transaction
from areafetch.errors import AreaNotFound, AreaStateConflict, ServiceUnavailable
from areafetch.queue import enqueue_area_plan
from areafetch.web.deps import EngineDep, QueuesDep, ReadAccessDep, SubmitSlotDep, WriteAccessDep
from areafetch.web.routes.areas import AreaId, FailedTile

router = APIRouter(prefix="/api/areas", tags=["areas"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such area or run"},
    409: {"description": "a run of the area is still going (the detail names it)"},
}


class RunStarted(BaseModel):
    area_id: uuid.UUID = Field(description="the new run's own area id (its progress, places, ...)")
    first_area_id: uuid.UUID
    run: int
    job_id: str


class RunOverview(BaseModel):
    run: int
    area_id: uuid.UUID
    state: str
    places_total: int | None
    tiles_failed: int
    upstream_calls: int
    created_at: datetime
    finished_at: datetime | None


class RunChanges(BaseModel):
    first_area_id: uuid.UUID
    run: int
    previous_run: int
    added: int
    removed: int
    changed: int
    moved_m: float = Field(description="a place counts as moved beyond this many metres")
    not_compared: dict[str, int] = Field(
        description="per source, places missing from this run that are not counted as removed: a "
        "tile of that source failed in this run (see failed_tiles)"
    )
    failed_tiles: list[FailedTile]
    places: list[PlaceChange]


@router.post("/{area_id}/refresh", status_code=202, response_model=RunStarted, responses=_RESPONSES)
async def refresh_area(
    area_id: AreaId, engine: EngineDep, queues: QueuesDep, _token: WriteAccessDep, _slot: SubmitSlotDep
) -> RunStarted:
    """Fetch the area again as its next run; one run at a time (409 while one is going)."""
    new_id = uuid.uuid4()
    async with transaction(engine) as conn:
        first_id, run = await run_queries.begin_next_run(conn, area_id=area_id, new_id=new_id)
    try:
        job_id = await enqueue_area_plan(queues, new_id)
    except ServiceUnavailable:
        async with transaction(engine) as conn:  # no run without its job
            await area_queries.delete_area(conn, area_id=new_id)
        raise
    return RunStarted(area_id=new_id, first_area_id=first_id, run=run, job_id=job_id)


@router.get("/{area_id}/runs", response_model=list[RunOverview], responses=_RESPONSES)
async def list_runs(area_id: AreaId, engine: EngineDep, _access: ReadAccessDep) -> list[RunOverview]:
    """Every run of the area (any of its runs may be named), oldest first."""
    async with connection(engine) as conn:
        runs = await run_queries.series(conn, area_id=area_id)
    if not runs:
        raise AreaNotFound(f"no area with id {area_id}")
    return [
        RunOverview(
            run=run["run"],
            area_id=run["id"],
            state=run["state"],
            places_total=(run["summary"] or {}).get("places_total"),
            tiles_failed=(run["summary"] or {}).get("tiles_failed", 0),
            upstream_calls=run["upstream_calls"],
            created_at=run["created_at"],
            finished_at=run["finished_at"],
        )
        for run in runs
    ]


@router.get(
    "/{area_id}/runs/{run}/changes",
    response_model=RunChanges,
    responses={
        **_RESPONSES,
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON, or CSV"},
    },
)
async def run_changes(
    area_id: AreaId,
    run: Annotated[int, Path(ge=2, le=1_000_000, description="the run, compared with the one before")],
    engine: EngineDep,
    _access: ReadAccessDep,
    output_format: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> RunChanges | Response:
    """Places added, removed and changed in run `run` since the run before it."""
    async with connection(engine) as conn:
        after = await run_queries.run_of(conn, area_id=area_id, run=run)
        before = await run_queries.run_of(conn, area_id=area_id, run=run - 1)
        if after is None or before is None:
            raise AreaNotFound(f"area {area_id} has no run {run}")
        if after["state"] in UNFINISHED_STATES:
            raise AreaStateConflict(f"run {run} is {after['state']}; its changes are known once it ends")
        failed = await area_queries.failed_tiles(conn, area_id=after["id"])
        deltas = await run_queries.place_deltas(conn, before_id=before["id"], after_id=after["id"])
    changes, not_compared = place_changes(
        deltas, sources_with_failed_tiles={source for source, _, _ in failed}
    )
    result = RunChanges(
        first_area_id=after["refresh_of"] or after["id"],
        run=run,
        previous_run=run - 1,
        added=sum(change.change == "added" for change in changes),
        removed=sum(change.change == "removed" for change in changes),
        changed=sum(change.change == "changed" for change in changes),
        moved_m=MOVED_M,
        not_compared=dict(not_compared),
        failed_tiles=[FailedTile(source=s, tile_id=t, reason=r) for s, t, r in failed],
        places=changes,
    )
    if output_format == "csv":
        return Response(_csv(result.places), media_type="text/csv; charset=utf-8")
    return result


def _csv(changes: list[PlaceChange]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["change", "what", "source", "source_id", "name", "category", "lon", "lat", "name_before",
         "category_before", "lon_before", "lat_before"]
    )  # fmt: skip
    for change in changes:
        before = change.before or {}
        writer.writerow(
            [change.change, " ".join(change.what), change.source, change.source_id, change.name or "",
             change.category, change.lon, change.lat, before.get("name") or "", before.get("category", ""),
             before.get("lon", ""), before.get("lat", "")]
        )  # fmt: skip
    return out.getvalue()
