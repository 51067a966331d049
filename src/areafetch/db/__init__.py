"""PostgreSQL through SQLAlchemy 2 Core (async, asyncpg) and Alembic migrations."""

from __future__ import annotations

from areafetch.db.engine import async_url, create_engine, open_driver_pool
from areafetch.db.migrate import migrate
from areafetch.db.queries import get_test_job_run, record_test_job_run
from areafetch.db.tables import metadata, test_job_runs

__all__ = [
    "async_url",
    "create_engine",
    "get_test_job_run",
    "metadata",
    "migrate",
    "open_driver_pool",
    "record_test_job_run",
    "test_job_runs",
]
