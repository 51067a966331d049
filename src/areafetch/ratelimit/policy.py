"""`LimitPolicy`: the limits of one upstream, and `policy_for`, which builds it from `Settings`."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from areafetch.areas.google_prices import nearby_sku
from areafetch.areas.sources import RATE_LIMITED_SOURCES, Source
from areafetch.ratelimit.gcra import emission_interval_us

if TYPE_CHECKING:
    from areafetch.config import Settings

__all__ = [
    "LimitPolicy",
    "google_calls_for_daily_usd",
    "limiter_names",
    "overpass_limiter_name",
    "policy_for",
]


class LimitPolicy(BaseModel):
    """The limits one upstream (or one endpoint of it) is called under, shared by every worker.

    Attributes:
        rate_per_s: sustained requests per second (the GCRA emission rate).
        burst: requests that may go back to back after a quiet spell; in every window of
            length W at most ``burst + rate_per_s * W`` requests are granted.
        max_in_flight: requests running at the same time, across all processes.
        max_wait_s: the longest a caller waits for its slot; a slot further away raises
            `LimiterTimeout` and reserves nothing. A limiter whose shared state is missing
            (first use, Redis restarted) starts with an empty bucket, so keep this above
            ``1 / rate_per_s``.
        daily_requests: requests per UTC day, or None for no budget.
        daily_bytes: response bytes per UTC day (counted with `Limiter.record_bytes`), or None.
        start_full: missing state starts as a full bucket instead of an empty one. Only for
            limits on our own clients (per-client submissions, where a first request must not
            wait); never for an upstream, where a lost state must not allow a second burst.
        lease_ttl_s: how long an in-flight lease lives without renewal; a crashed holder's
            lease frees itself after this. Running calls renew theirs every third of it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rate_per_s: float = Field(gt=0, le=100_000)
    burst: int = Field(default=1, ge=1, le=100_000)
    max_in_flight: int = Field(default=1, ge=1, le=10_000)
    max_wait_s: float = Field(default=60.0, ge=0, le=7 * 86_400)
    daily_requests: int | None = Field(default=None, ge=1)
    daily_bytes: int | None = Field(default=None, ge=1)
    lease_ttl_s: float = Field(default=30.0, ge=0.1, le=3600)
    start_full: bool = False

    @property
    def emission_interval_us(self) -> int:
        """``1 / rate_per_s`` in whole microseconds, rounded up."""
        return emission_interval_us(self.rate_per_s)


def policy_for(settings: Settings, upstream: Source) -> LimitPolicy:
    """The policy of one upstream, from its `AREAFETCH_<UPSTREAM>_*` settings."""
    if upstream not in RATE_LIMITED_SOURCES:
        raise ValueError(f"{upstream!r} is not a rate-limited upstream")

    def setting(name: str) -> Any:
        return getattr(settings, f"{upstream}_{name}")

    daily_requests = setting("daily_requests")
    if upstream == "google_places":
        daily_requests = _tighter(daily_requests, google_calls_for_daily_usd(settings))
    return LimitPolicy(
        rate_per_s=setting("rate_per_s"),
        burst=setting("burst"),
        max_in_flight=setting("max_in_flight"),
        max_wait_s=setting("max_wait_s"),
        daily_requests=daily_requests,
        daily_bytes=setting("daily_bytes"),
    )


def google_calls_for_daily_usd(settings: Settings) -> int | None:
    """`AREAFETCH_GOOGLE_DAILY_USD` as the Google limiter's daily request budget: the money budget is
    the limiter's daily budget counted in calls at the configured price (None: no money budget)."""
    if settings.google_daily_usd is None:
        return None
    price = settings.google_prices[nearby_sku(settings)] / 1000.0
    if price <= 0:
        return None
    return max(1, math.floor(settings.google_daily_usd / price + 1e-9))


def _tighter(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def overpass_limiter_name(index: int, url: str) -> str:
    """The limiter of the `index`-th `AREAFETCH_OVERPASS_URLS` endpoint: the first is `overpass`,
    the others `overpass:<host[:port]>` (each endpoint has its own rate and budget)."""
    return "overpass" if index == 0 else f"overpass:{urlsplit(url).netloc}"[:128]


def limiter_names(settings: Settings) -> list[tuple[str, Source]]:
    """Every limiter of this deployment, with the source whose policy it follows: each Overpass
    endpoint's, then Google's."""
    overpass: list[tuple[str, Source]] = [
        (overpass_limiter_name(index, url), "overpass")
        for index, url in enumerate(settings.overpass_endpoints)
    ]
    return [*overpass, *[(name, name) for name in RATE_LIMITED_SOURCES if name != "overpass"]]
