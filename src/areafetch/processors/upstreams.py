"""The upstream clients a worker process opens once: one HTTP pool, one limiter per upstream."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
from redis.asyncio import Redis

from areafetch.config import Settings
from areafetch.providers import GooglePlacesClient, OverpassClient
from areafetch.ratelimit import Limiter, policy_for

__all__ = ["Upstreams", "open_upstreams"]


@dataclass(frozen=True)
class Upstreams:
    """Clients of the external APIs, each behind its shared limiter."""

    http: httpx.AsyncClient
    limiters: dict[str, Limiter]
    overpass: OverpassClient
    google_places: GooglePlacesClient | None  # None without an API key
    osm_extract_path: Path | None

    async def aclose(self) -> None:
        await self.http.aclose()


def open_upstreams(settings: Settings, redis: Redis) -> Upstreams:
    limiters = {
        name: Limiter(redis, name, policy_for(settings, name)) for name in ("overpass", "google_places")
    }
    http = httpx.AsyncClient(
        timeout=httpx.Timeout(60.0, connect=10.0),
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        headers={"User-Agent": settings.user_agent},
    )
    overpass = OverpassClient(
        http,
        limiters["overpass"],
        url=settings.overpass_url,
        user_agent=settings.user_agent,
        timeout_s=settings.overpass_timeout_s,
        maxsize_bytes=settings.overpass_maxsize_bytes,
        pause_min_s=settings.overpass_pause_min_s,
    )
    google = (
        GooglePlacesClient(
            http,
            limiters["google_places"],
            base_url=settings.google_places_url,
            api_key=settings.google_api_key,
            timeout_s=settings.google_places_timeout_s,
            pause_min_s=settings.google_places_pause_min_s,
        )
        if settings.google_api_key and settings.google_api_key.get_secret_value()
        else None
    )
    return Upstreams(
        http=http,
        limiters=limiters,
        overpass=overpass,
        google_places=google,
        osm_extract_path=settings.osm_extract_path,
    )
