"""Query functions: the connection is passed explicitly, the data keyword-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import asyncpg
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from areafetch.db.engine import driver_errors
from areafetch.db.tables import test_job_runs
from areafetch.tracing import traced_write

__all__ = ["get_test_job_run", "record_test_job_run"]


# Run by asyncpg (which prepares and caches it per connection): one test job is little more than
# this row, and SQLAlchemy's statement execution and result handling around it cost more CPU than
# the round trip (bench/queue_overhead.py).
_UPSERT_TEST_JOB_RUN: Final = """
    INSERT INTO test_job_runs (job_id, queue, name, payload, result, attempt, started_at, finished_at)
    VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7, $8)
    ON CONFLICT (job_id) DO UPDATE SET
        result = EXCLUDED.result, attempt = EXCLUDED.attempt, started_at = EXCLUDED.started_at,
        finished_at = EXCLUDED.finished_at, runs = test_job_runs.runs + 1
"""


@traced_write("upsert", "test_job_runs")
async def record_test_job_run(
    pool: asyncpg.Pool,
    *,
    job_id: str,
    queue: str,
    name: str,
    payload: str,
    result: str,
    attempt: int,
    started_at: datetime,
    finished_at: datetime,
) -> None:
    """Insert the run of a test job, or update its row: one row per job id, however often it runs.
    ``payload`` and ``result`` are JSON texts.

    Raises:
        ServiceUnavailable: PostgreSQL could not be reached or was lost.
    """
    with driver_errors:
        await pool.execute(
            _UPSERT_TEST_JOB_RUN, job_id, queue, name, payload, result, attempt, started_at, finished_at
        )


async def get_test_job_run(conn: AsyncConnection, *, job_id: str) -> dict[str, Any] | None:
    """The recorded run of a test job, or None."""
    row = (await conn.execute(select(test_job_runs).where(test_job_runs.c.job_id == job_id))).first()
    return dict(row._mapping) if row else None
