"""What can be done to an area once submitted: retry its failed tiles, cancel it."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncConnection

from areafetch.db import areas as area_queries
from areafetch.db.engine import connection, transaction
from areafetch.errors import AreaNotFound, AreaStateConflict, ServiceUnavailable
from areafetch.log import get_logger
from areafetch.queue.flows import mark_cancelled, remove_waiting_area_jobs, requeue_area_tiles
from areafetch.web.deps import EngineDep, QueuesDep, WriteAccessDep
from areafetch.web.routes.areas import AreaId, AreaPublic, read_area

router = APIRouter(prefix="/api/areas", tags=["areas"])
log = get_logger("areafetch.web.areas")

_RETRYABLE = ("partial", "failed")
_CANCELLABLE = ("queued", "planning", "running")
_RESPONSES: dict[int | str, dict[str, str]] = {
    404: {"description": "no such area"},
    409: {"description": "the area's state does not allow it (the detail names the state)"},
    503: {"description": "PostgreSQL or Redis is down"},
}


@router.post("/{area_id}/retry", status_code=202, response_model=AreaPublic, responses=_RESPONSES)
async def retry_area(
    area_id: AreaId, engine: EngineDep, queues: QueuesDep, _token: WriteAccessDep
) -> AreaPublic:
    """Queue the area's failed tiles again, and only those; its places found so far stay."""
    async with transaction(engine) as conn:
        state = await _locked_state(conn, area_id)
        if state not in _RETRYABLE:
            raise AreaStateConflict(
                f"area {area_id} is {state}; only a partial or failed area can be retried"
            )
        reason = (await area_queries.get_area(conn, area_id=area_id) or {}).get("failed_reason")
        reopened = await area_queries.reopen_failed_tiles(conn, area_id=area_id)
        if not reopened:
            raise AreaStateConflict(
                f"area {area_id} is {state} with no failed tile to retry (it was refused before it "
                "started): submit it again"
            )
    job_tiles = dict.fromkeys((source, tile_id.split("/", 1)[0]) for source, tile_id, _ in reopened)
    try:
        await requeue_area_tiles(queues, area_id, list(job_tiles))
    except ServiceUnavailable:
        async with transaction(engine) as conn:  # nothing half-done: the area stays as it was
            await area_queries.restore_failed_tiles(
                conn, area_id=area_id, state=state, reopened=reopened, reason=reason
            )
        raise
    async with connection(engine) as conn:
        return await read_area(conn, area_id)


@router.post("/{area_id}/cancel", response_model=AreaPublic, responses=_RESPONSES)
async def cancel_area(
    area_id: AreaId, engine: EngineDep, queues: QueuesDep, _token: WriteAccessDep
) -> AreaPublic:
    """End the area `cancelled`: its waiting jobs are removed, jobs in flight stop before their next
    upstream call, and the places found so far stay."""
    async with transaction(engine) as conn:
        state = await _locked_state(conn, area_id)
        if state not in _CANCELLABLE:
            raise AreaStateConflict(
                f"area {area_id} is {state}; only a queued, planning or running area can be cancelled"
            )
        await area_queries.cancel_area(conn, area_id=area_id)
    # After the commit: a job that starts meanwhile sees the cancel and makes no call, so with
    # Redis down the cancel still holds (its waiting jobs then end at once when they start).
    try:
        await mark_cancelled(queues, area_id)
        await remove_waiting_area_jobs(queues, area_id)
    except ServiceUnavailable as exc:
        log.warning("area.cancel_left_jobs", area_id=str(area_id), error=str(exc)[:300])
    async with connection(engine) as conn:
        return await read_area(conn, area_id)


async def _locked_state(conn: AsyncConnection, area_id: uuid.UUID) -> str:
    state = await area_queries.lock_area_state(conn, area_id=area_id)
    if state is None:
        raise AreaNotFound(f"no area with id {area_id}")
    return state
