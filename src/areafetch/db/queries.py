"""Query functions: the connection is passed explicitly, the data keyword-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from areafetch.db.tables import test_job_runs

__all__ = ["get_test_job_run", "record_test_job_run"]


def _upsert_test_job_run() -> Insert:
    """Built once, executed with the row as parameters: SQLAlchemy then finds the compiled form in its
    cache by the statement's memoised key (a statement carrying its values as literals would be walked
    value by value on every call to build that key; that walk cost more than the rest of a test job)."""
    statement = insert(test_job_runs)
    return statement.on_conflict_do_update(
        index_elements=[test_job_runs.c.job_id],
        set_={
            "result": statement.excluded.result,
            "attempt": statement.excluded.attempt,
            "started_at": statement.excluded.started_at,
            "finished_at": statement.excluded.finished_at,
            "runs": test_job_runs.c.runs + 1,
        },
    )


_UPSERT_TEST_JOB_RUN: Final = _upsert_test_job_run()


async def record_test_job_run(
    conn: AsyncConnection,
    *,
    job_id: str,
    queue: str,
    name: str,
    payload: dict[str, Any],
    result: dict[str, Any],
    attempt: int,
    started_at: datetime,
    finished_at: datetime,
) -> None:
    """Insert the run of a test job, or update its row: one row per job id, however often it runs."""
    values = {
        "job_id": job_id,
        "queue": queue,
        "name": name,
        "payload": payload,
        "result": result,
        "attempt": attempt,
        "started_at": started_at,
        "finished_at": finished_at,
    }
    await conn.execute(_UPSERT_TEST_JOB_RUN, values)


async def get_test_job_run(conn: AsyncConnection, *, job_id: str) -> dict[str, Any] | None:
    """The recorded run of a test job, or None."""
    row = (await conn.execute(select(test_job_runs).where(test_job_runs.c.job_id == job_id))).first()
    return dict(row._mapping) if row else None
