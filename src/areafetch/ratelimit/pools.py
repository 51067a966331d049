"""Every limiter of a deployment, and a source's call budget over all of its limiters (one per
Overpass endpoint of `AREAFETCH_OVERPASS_URLS`, one for Google)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from areafetch.ratelimit.limiter import Limiter
from areafetch.ratelimit.models import LimiterStatus, combined_status
from areafetch.ratelimit.policy import limiter_names, policy_for

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from areafetch.areas.sources import Source
    from areafetch.config import Settings

__all__ = ["deployment_limiters", "source_of", "source_statuses"]


def source_of(limiter_name: str) -> str:
    """`overpass:host:port` -> `overpass`."""
    return limiter_name.split(":", 1)[0]


def deployment_limiters(redis: Redis, settings: Settings) -> dict[str, Limiter]:
    """A handle on every limiter of this deployment, by name (`limiter_names`)."""
    return {
        name: Limiter(redis, name, policy_for(settings, source), namespace=settings.limiter_namespace)
        for name, source in limiter_names(settings)
    }


async def source_statuses(
    limiters: Mapping[str, Limiter], sources: Iterable[Source]
) -> dict[Source, LimiterStatus]:
    """Each source's limiters read and combined (their budgets summed): what an area's calls may use."""
    statuses: dict[Source, LimiterStatus] = {}
    for source in sources:
        mine = [await limiter.status() for name, limiter in limiters.items() if source_of(name) == source]
        if mine:
            statuses[source] = combined_status(source, mine)
    return statuses
