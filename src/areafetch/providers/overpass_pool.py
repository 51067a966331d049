"""Several Overpass interpreters as one: each behind its own limiter, a call to whichever serves soonest.

    pool = OverpassPool([OverpassClient(..., url=a), OverpassClient(..., url=b)])
    places = await pool.fetch(polygon, categories)

- Order: endpoints not set aside, soonest first by their limiter's shared state (its next slot, a
  pause after a 429, a full in-flight count), then in the configured order. The state is read from
  Redis, never from `/api/status`: asking the server before each query would double its load.
- Failover: a 429, 5xx (504 "too busy"), timeout or connection error on one endpoint (or its limiter
  unable to give a slot in time, or its daily budget spent) sends the same call on to the next one.
  A remark (the cell is too heavy) or a 4xx (the query is wrong) is about the query, not the endpoint,
  and is raised at once.
- Set aside: an endpoint that failed `set_aside_after` times in a row is skipped for
  `probe_after_s` (doubling with each further failure, up to `_MAX_SET_ASIDE_S`); after that the
  next real query to it is the probe, and a success takes it back. Every process sees it: its
  limiter is paused for as long (Redis), so the other pools order it last, behind its pause.
- All down: `UpstreamError` (`UpstreamThrottled` if every endpoint throttled) naming every
  endpoint tried and its failure; the job retries within its attempts.

With one endpoint the pool is that endpoint's client: its errors are raised as they are.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from areafetch.errors import (
    BudgetExhausted,
    LimiterTimeout,
    UpstreamError,
    UpstreamRejected,
    UpstreamThrottled,
)
from areafetch.providers.overpass import AnswerIncomplete, CellPlaces, OverpassClient, TileTooLarge

if TYPE_CHECKING:
    from shapely.geometry import Polygon

__all__ = ["OverpassPool"]

_MAX_SET_ASIDE_S: Final = 900.0
_Failover = (UpstreamError, LimiterTimeout, BudgetExhausted)


@dataclass
class _Endpoint:
    client: OverpassClient
    index: int
    failures_in_a_row: int = 0
    set_aside_until: float = 0.0


class OverpassPool:
    """Overpass endpoints behind one `fetch` (see the module docstring).

    Args:
        clients: one client per endpoint, each with its own limiter, in the configured order.
        set_aside_after: failures in a row that set an endpoint aside.
        probe_after_s: how long it is first set aside; doubles with each further failure.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        clients: Sequence[OverpassClient],
        *,
        set_aside_after: int = 3,
        probe_after_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not clients:
            raise ValueError("an Overpass pool needs at least one endpoint")
        self._endpoints = [_Endpoint(client, index) for index, client in enumerate(clients)]
        self._set_aside_after = set_aside_after
        self._probe_after_s = probe_after_s
        self._clock = clock

    def __repr__(self) -> str:
        return f"OverpassPool({[endpoint.client.url for endpoint in self._endpoints]!r})"

    @property
    def urls(self) -> list[str]:
        return [endpoint.client.url for endpoint in self._endpoints]

    def set_aside(self) -> list[str]:
        """The endpoints skipped now."""
        now = self._clock()
        return [e.client.url for e in self._endpoints if e.set_aside_until > now]

    def query_for(
        self, polygon_lonlat: Polygon | Sequence[tuple[float, float]], categories: tuple[str, ...]
    ) -> str:
        return self._endpoints[0].client.query_for(polygon_lonlat, categories)

    async def fetch(
        self, polygon_lonlat: Polygon | Sequence[tuple[float, float]], categories: tuple[str, ...]
    ) -> CellPlaces:
        """The places of the cell from the endpoint that can serve soonest, failing over to the others.

        Raises:
            TileTooLarge, UpstreamRejected: from the endpoint that answered them.
            UpstreamThrottled: every endpoint throttled (or the only one did).
            UpstreamError: every endpoint failed; the message names each and its failure.
        """
        if len(self._endpoints) == 1:
            return await self._endpoints[0].client.fetch(polygon_lonlat, categories)
        failures: list[tuple[_Endpoint, Exception]] = []
        for endpoint in await self._order():
            try:
                places = await endpoint.client.fetch(polygon_lonlat, categories)
            except (TileTooLarge, UpstreamRejected):
                raise
            except _Failover as exc:
                await self._failed(endpoint)
                failures.append((endpoint, exc))
                continue
            endpoint.failures_in_a_row = 0
            endpoint.set_aside_until = 0.0
            return places
        raise _all_failed(failures)

    async def _order(self) -> list[_Endpoint]:
        now = self._clock()
        ready = [e for e in self._endpoints if e.set_aside_until <= now]
        if not ready:  # all set aside: still try them, the one back soonest first
            return sorted(self._endpoints, key=lambda e: (e.set_aside_until, e.index))
        waits = {e.index: await _wait_s(e.client) for e in ready}
        resting = sorted(
            (e for e in self._endpoints if e.set_aside_until > now), key=lambda e: e.set_aside_until
        )
        return sorted(ready, key=lambda e: (waits[e.index], e.index)) + resting

    async def _failed(self, endpoint: _Endpoint) -> None:
        endpoint.failures_in_a_row += 1
        beyond = endpoint.failures_in_a_row - self._set_aside_after
        if beyond >= 0:
            seconds = min(self._probe_after_s * 2**beyond, _MAX_SET_ASIDE_S)
            endpoint.set_aside_until = self._clock() + seconds
            # Shared with every process: its limiter is paused, so their pools order it last too.
            await endpoint.client.limiter.pause(seconds)


async def _wait_s(client: OverpassClient) -> float:
    """How long until this endpoint's limiter would let a call go (a full in-flight count adds one slot)."""
    status = await client.limiter.status()
    wait = status.next_slot_in_s
    if status.in_flight >= status.max_in_flight:
        wait += 1.0 / client.limiter.policy.rate_per_s
    return wait


def _all_failed(failures: list[tuple[_Endpoint, Exception]]) -> UpstreamError:
    reasons = "; ".join(f"{endpoint.client.url}: {type(exc).__name__}: {exc}" for endpoint, exc in failures)
    message = f"every Overpass endpoint failed ({len(failures)} tried): {reasons}"
    throttles = [exc for _, exc in failures if isinstance(exc, UpstreamThrottled)]
    if len(throttles) == len(failures):
        return UpstreamThrottled(message, retry_after_s=min(t.retry_after_s or 0.0 for t in throttles))
    if all(isinstance(exc, AnswerIncomplete) for _, exc in failures):
        return AnswerIncomplete(message)  # no endpoint could finish this cell
    return UpstreamError(message)
