"""`areafetch migrate`: create the database if it is missing, then upgrade to the newest revision."""

from __future__ import annotations

import asyncio

import asyncpg
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from areafetch.db.engine import async_url
from areafetch.errors import ServiceUnavailable
from areafetch.redaction import redacted_url

__all__ = ["alembic_config", "ensure_database", "migrate"]


def alembic_config(database_url: str) -> Config:
    """Alembic's config, in code: scripts from this package, URL from settings."""
    config = Config()
    config.set_main_option("script_location", "areafetch.db:migrations")
    config.attributes["database_url"] = database_url
    return config


async def ensure_database(database_url: str) -> bool:
    """Create the target database when it does not exist yet; True when it was created."""
    url = async_url(database_url)
    name = url.database
    if not name:
        raise ValueError("the database URL names no database")
    maintenance = url.set(drivername="postgresql", database="postgres")
    dsn = maintenance.render_as_string(hide_password=False)
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        raise ServiceUnavailable("postgresql", f"{redacted_url(database_url)}: {exc}") from exc
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists:
            return False
        quoted = '"' + name.replace('"', '""') + '"'
        try:
            await conn.execute(f"CREATE DATABASE {quoted}")
        except asyncpg.DuplicateDatabaseError:
            return False
        return True
    finally:
        await conn.close()


def migrate(database_url: str) -> None:
    """Create the database if needed and apply every migration (safe to run again)."""
    make_url(database_url)  # fail early on a malformed URL
    asyncio.run(ensure_database(database_url))
    command.upgrade(alembic_config(database_url), "head")
