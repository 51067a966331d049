"""The refresh job: an area's schedule is due, so start its next run (or say why not)."""

from __future__ import annotations

import uuid

from bullmq import UnrecoverableError

from areafetch.db import areas as area_queries
from areafetch.db.runs import begin_next_run
from areafetch.errors import AreaNotFound, AreaStateConflict
from areafetch.jobs import AreaRef, RefreshResult
from areafetch.processors._shared import log
from areafetch.processors.base import JobContext
from areafetch.queue import Queues, enqueue_area_plan

__all__ = ["refresh_area_job"]


async def refresh_area_job(payload: AreaRef, ctx: JobContext) -> RefreshResult:
    """Start the area's next run; skipped (and said so) while one still goes."""
    new_id = uuid.uuid4()
    try:
        async with ctx.resources.engine.begin() as conn:
            first_id, run = await begin_next_run(conn, area_id=payload.area_id, new_id=new_id)
    except AreaNotFound as exc:  # deleted with its schedule, as this job was already queued
        raise UnrecoverableError(str(exc)) from exc
    except AreaStateConflict as exc:
        log.info("refresh.skipped", area_id=str(payload.area_id), reason=str(exc))
        return RefreshResult(area_id=None, skipped=str(exc))
    queues = Queues(ctx.resources.settings, connection_retries=1)
    try:
        await enqueue_area_plan(queues, new_id)
    except Exception:
        async with ctx.resources.engine.begin() as conn:  # no run without its job; the job retries
            await area_queries.delete_area(conn, area_id=new_id)
        raise
    finally:
        await queues.close()
    log.info("refresh.started", area_id=str(first_id), run=run, run_area_id=str(new_id))
    return RefreshResult(area_id=new_id, run=run)
