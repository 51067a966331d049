"""Migrations: a missing database is created, the schema matches the tables module, reruns are no-ops."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection

from areafetch.db import create_engine, metadata, migrate
from tests.helpers import ADMIN_DATABASE_URL, dsn


def test_migrate_creates_database_and_schema_matching_the_tables_module() -> None:
    name = f"areafetch_migrate_{uuid.uuid4().hex[:8]}"
    url = ADMIN_DATABASE_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        migrate(url)
        migrate(url)  # a second run changes nothing
        assert asyncio.run(_schema_diff(url)) == []
    finally:
        asyncio.run(_drop(name))


async def _schema_diff(url: str) -> list[object]:
    engine = create_engine(url)

    def diff(conn: Connection) -> list[object]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    try:
        async with engine.connect() as conn:
            return await conn.run_sync(diff)
    finally:
        await engine.dispose()


async def _drop(name: str) -> None:
    conn = await asyncpg.connect(dsn(ADMIN_DATABASE_URL))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
