"""PostgreSQL through SQLAlchemy 2 Core (async, asyncpg) and Alembic migrations."""

from __future__ import annotations

from areafetch.db.engine import async_url, create_driver_pool, create_engine
from areafetch.db.migrate import migrate
from areafetch.db.queries import get_test_job_run, record_test_job_run
from areafetch.db.tables import metadata, test_job_runs

__all__ = [
    "async_url",
    "create_driver_pool",
    "create_engine",
    "get_test_job_run",
    "metadata",
    "migrate",
    "record_test_job_run",
    "test_job_runs",
]
