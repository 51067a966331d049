"""What the web app opens at start-up and closes at shutdown."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from areafetch.config import Settings
from areafetch.db import create_engine
from areafetch.queue import Queues
from areafetch.redis import client_for

__all__ = ["AppState"]


@dataclass(frozen=True)
class AppState:
    """The web process's shared resources, created in the lifespan, never at import time."""

    settings: Settings
    queues: Queues
    redis: Redis
    engine: AsyncEngine

    @classmethod
    def open(cls, settings: Settings) -> AppState:
        return cls(
            settings=settings,
            queues=Queues(settings),
            redis=client_for(settings, retries=2),
            engine=create_engine(settings.database_url, pool_size=settings.database_pool_size),
        )

    async def close(self) -> None:
        await self.queues.close()
        await self.redis.aclose()
        await self.engine.dispose()
