"""What planning learns about cell capacity: a remark counts only on more places than a cell that
was answered (a remark on less says the server was busy, as the soak's injected timeouts do)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from areafetch.config import Settings
from areafetch.db import create_engine
from areafetch.db.density import failed_capacity, record_capacity


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.database_url)
    yield engine
    await engine.dispose()


async def capacity_after(engine: AsyncEngine, *observations: tuple[int | None, int | None]) -> int | None:
    limits = f"test-{uuid.uuid4().hex[:12]}"
    for failed, answered in observations:
        async with engine.begin() as conn:
            await record_capacity(
                conn, source="overpass", limits=limits, failed_places=failed, answered_places=answered
            )
    async with engine.connect() as conn:
        return await failed_capacity(conn, source="overpass", limits=limits)


@pytest.mark.parametrize(
    ("observations", "capacity"),
    [
        ([(300, 100)], 300),  # heavier than anything answered: learned
        ([(None, 100), (20, None)], None),  # a remark on 20 after 100 were answered: a busy moment
        ([(20, None), (None, 100)], None),  # answered 100 after a remark on 20: the remark is stale
        ([(300, 100), (20, 50), (250, None)], 250),  # the noise is not kept; the real evidence is
        ([(None, 100), (None, 120)], None),  # never a remark
    ],
)
async def test_a_remark_teaches_a_capacity_only_above_what_was_answered(
    engine: AsyncEngine, observations: list[tuple[int | None, int | None]], capacity: int | None
) -> None:
    assert await capacity_after(engine, *observations) == capacity
