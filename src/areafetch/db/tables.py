"""Table definitions (SQLAlchemy Core): the schema Alembic migrates to."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, func
from sqlalchemy.dialects.postgresql import JSONB

__all__ = ["metadata", "test_job_runs"]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# One row per test job (idempotent per job id); `runs` counts how often it completed.
test_job_runs = Table(
    "test_job_runs",
    metadata,
    Column("job_id", String(128), primary_key=True),
    Column("queue", String(128), nullable=False),
    Column("name", String(128), nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("result", JSONB, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("runs", Integer, nullable=False, server_default="1"),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
