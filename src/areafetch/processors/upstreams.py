"""The upstream clients a worker process opens once: one HTTP pool, one limiter per upstream."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

import anyio

# httpcore imports its network backend on a client's first connection; see `Upstreams.warm_up`.
import httpcore._backends.anyio  # noqa: F401
import httpx
from redis.asyncio import Redis

from areafetch.areas import RATE_LIMITED_SOURCES, is_configured
from areafetch.config import Settings
from areafetch.providers import GooglePlacesClient, OverpassClient
from areafetch.providers.overpass_pool import OverpassPool
from areafetch.ratelimit import Limiter, policy_for
from areafetch.ratelimit.policy import overpass_limiter_name

__all__ = ["Upstreams", "open_upstreams"]


@dataclass(frozen=True)
class Upstreams:
    """Clients of the external APIs, each behind its shared limiter."""

    http: httpx.AsyncClient
    limiters: dict[str, Limiter]
    overpass: OverpassPool
    google_places: GooglePlacesClient | None  # None without an API key
    osm_extract_path: Path | None

    async def warm_up(self) -> None:
        """Load what a process's first connection loads, with a connection to a socket of our own.

        The first connection loads anyio's socket streams and httpcore's network backend and
        starts the resolver's thread: about 0.1 s, more on a busy machine. Inside a rate slot,
        that would make a worker's first upstream call leave late and reach the upstream just
        before the next, punctual call of another worker: closer than the upstream allows (a 429
        from a server that counts arrivals). No upstream is contacted.
        """
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)  # the kernel completes the handshake; nobody needs to accept
            host, port = listener.getsockname()[:2]
            with anyio.fail_after(5.0):
                stream = await anyio.connect_tcp(host, port)
            await stream.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()


def _overpass_pool(
    settings: Settings, redis: Redis, http: httpx.AsyncClient, limiters: dict[str, Limiter]
) -> OverpassPool:
    """One client per `AREAFETCH_OVERPASS_URLS` endpoint, each with its own limiter (`overpass`, then
    `overpass:<host[:port]>`; the call budget counts them all)."""
    clients = []
    for index, url in enumerate(settings.overpass_endpoints):
        name = overpass_limiter_name(index, url)
        if name not in limiters:
            limiters[name] = Limiter(
                redis, name, policy_for(settings, "overpass"), namespace=settings.limiter_namespace
            )
        clients.append(
            OverpassClient(
                http,
                limiters[name],
                url=url,
                user_agent=settings.user_agent,
                timeout_s=settings.overpass_timeout_s,
                maxsize_bytes=settings.overpass_maxsize_bytes,
                pause_min_s=settings.overpass_pause_min_s,
            )
        )
    return OverpassPool(clients)


def open_upstreams(settings: Settings, redis: Redis) -> Upstreams:
    limiters: dict[str, Limiter] = {
        name: Limiter(redis, name, policy_for(settings, name), namespace=settings.limiter_namespace)
        for name in RATE_LIMITED_SOURCES
    }
    http = httpx.AsyncClient(
        timeout=httpx.Timeout(60.0, connect=10.0),
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        headers={"User-Agent": settings.user_agent},
    )
    overpass = _overpass_pool(settings, redis, http, limiters)
    api_key = settings.google_api_key if is_configured("google_places", settings) else None
    google = (
        GooglePlacesClient(
            http,
            limiters["google_places"],
            base_url=settings.google_places_url,
            api_key=api_key,
            timeout_s=settings.google_places_timeout_s,
            pause_min_s=settings.google_places_pause_min_s,
            fields=settings.google_fields,
        )
        if api_key is not None
        else None
    )
    return Upstreams(
        http=http,
        limiters=limiters,
        overpass=overpass,
        google_places=google,
        osm_extract_path=settings.osm_extract_path,
    )
