"""Nothing stuck: an unfinished area whose jobs can no longer move it is moved on.

- queued, and its plan job was never added (the web process died between committing the area and
  queueing the job): the plan job is queued;
- running, and its flow's finalise job ended without ending the area (it failed: BullMQ's stall
  check fails a job whose worker died while holding it more often than allowed): a finalise job
  of its own (`{area}.settle`) ends it, `completed`, `partial` or `failed` by its tiles;
- otherwise, with every job of it ended or gone (e.g. Redis lost its data, or a plan job failed
  by the stall check): the area fails with the failed job's reason.

Every worker process runs the loop; a short Redis lock lets one of them pass at a time. Re-queueing
is idempotent (the jobs' ids are derived from the area id), so a pass that overlaps a web request
which is just queueing the job adds nothing twice.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from areafetch.areas.job_ids import finalise_job_id, plan_job_id, settle_job_id
from areafetch.db import areas as area_queries
from areafetch.db.engine import connection, transaction
from areafetch.errors import ServiceUnavailable
from areafetch.jobs import FINALISE_AREA_SPEC, AreaRef
from areafetch.log import get_logger
from areafetch.queue import Queues, enqueue, enqueue_area_plan, find_job

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncEngine

    from areafetch.config import Settings

__all__ = ["LOST_JOBS_REASON", "Reconciled", "reconcile_areas", "run_reconciler"]

log = get_logger("areafetch.reconcile")

LOST_JOBS_REASON = "its jobs are gone from the queue (Redis lost them); retry the area"
_ENDED = frozenset({"completed", "failed"})


@dataclass
class Reconciled:
    """What one pass did."""

    requeued: list[uuid.UUID] = field(default_factory=list)
    failed: list[uuid.UUID] = field(default_factory=list)
    settled: list[uuid.UUID] = field(default_factory=list)


async def reconcile_areas(*, engine: AsyncEngine, queues: Queues, idle_for_s: float) -> Reconciled:
    """One pass over the unfinished areas whose last step began over ``idle_for_s`` ago.

    Raises:
        ServiceUnavailable: Redis or PostgreSQL cannot be reached (nothing is changed on a guess).
    """
    done = Reconciled()
    async with connection(engine) as conn:
        candidates = await area_queries.unfinished_areas(conn, idle_for_s=idle_for_s)
    for area_id, state in candidates:
        plan, finalise, settle = [
            await find_job(queues, job_id)
            for job_id in (plan_job_id(area_id), finalise_job_id(area_id), settle_job_id(area_id))
        ]
        if any(job is not None and job.state not in _ENDED for job in (plan, finalise, settle)):
            continue  # a job will still move it
        if state == "queued" and plan is None:
            await enqueue_area_plan(queues, area_id)
            done.requeued.append(area_id)
            log.warning("area.requeued", area_id=str(area_id), reason="no plan job")
        elif state == "running" and finalise is not None and settle is None:
            await enqueue(queues, FINALISE_AREA_SPEC, AreaRef(area_id=area_id), job_id=settle_job_id(area_id))
            done.settled.append(area_id)
            log.warning("area.settled", area_id=str(area_id), finalise=finalise.failed_reason or "")
        else:
            reason = next(
                (job.failed_reason for job in (settle, finalise, plan) if job and job.failed_reason),
                LOST_JOBS_REASON,
            )
            async with transaction(engine) as conn:
                await area_queries.fail_area(conn, area_id=area_id, reason=reason)
            done.failed.append(area_id)
            log.warning("area.failed_without_jobs", area_id=str(area_id), state=state, reason=reason[:300])
    return done


async def run_reconciler(settings: Settings, *, engine: AsyncEngine, redis: Redis, worker: str) -> None:
    """Reconcile every ``reconcile_interval_s`` until cancelled; one worker process per interval."""
    queues = Queues(settings, connection_retries=1)
    lock = f"{settings.queue_prefix}:areafetch:reconciler"
    interval_ms = int(settings.reconcile_interval_s * 1000)
    try:
        while True:
            await asyncio.sleep(settings.reconcile_interval_s)
            try:
                if not await redis.set(lock, worker, nx=True, px=interval_ms):
                    continue
                done = await reconcile_areas(
                    engine=engine, queues=queues, idle_for_s=settings.reconcile_after_s
                )
            except (ServiceUnavailable, RedisError, OSError) as exc:  # a later pass tries again
                log.warning("reconcile.skipped", error=str(exc)[:300])
                continue
            if done.requeued or done.failed or done.settled:
                log.info(
                    "reconcile.done",
                    requeued=len(done.requeued),
                    failed=len(done.failed),
                    settled=len(done.settled),
                )
    finally:
        await queues.close()
