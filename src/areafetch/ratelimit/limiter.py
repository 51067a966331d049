"""`Limiter`: one upstream's rate, concurrency, pause and daily budget, shared through Redis.

Every decision is taken inside a Lua script on Redis server time (see `lua/`), so any number
of processes on any number of machines, whatever their clocks say, share one limit:

    acquire ──► acquire-3.lua  budget? ─► slot (GCRA) within max_wait? ─► lease free? ─► reserve
                   │ granted, wait > 0                                  │ all leases held
                   ▼                                                    ▼
                sleep until the slot                       BLPOP the wake-up list (a release
                   │                                       pushes one entry), then try again
                   ▼
                confirm-3.lua  paused? lease and state still there? ─► go ahead
                   │ paused: lease given back, sleep to the pause's end, take a fresh slot
                   ▼
                the call (lease renewed in the background if it outlives a third of its ttl)
                   ▼
                release-2.lua  lease given back, one waiter woken

The common case costs one round trip to enter (EVALSHA, no wait) and one to leave; a
caller that sleeps for its slot makes one more on waking, because a pause set while it
slept must stop it. Local clocks only ever measure durations that Redis handed out.

What survives a loss of the limiter's keys (eviction, a Redis restarted empty) and what not:
the rate bound holds (missing state is an empty bucket, and a new epoch voids every
reservation still sleeping); a pause in force, the day's budget counts, and the leases of
calls already running are lost, so in flight may briefly reach twice the limit.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from redis.exceptions import RedisError

from areafetch.constants import LIMITER_KEY_PREFIX
from areafetch.errors import BudgetExhausted, LimiterTimeout, ServiceUnavailable
from areafetch.job_log import job_log
from areafetch.metrics import LIMITER_PAUSES, LIMITER_WAIT
from areafetch.ratelimit import gcra
from areafetch.ratelimit._keys import LimiterKeys
from areafetch.ratelimit._lease import LeaseKeeper
from areafetch.ratelimit._scripts import scripts_for
from areafetch.ratelimit.gate import run_check_before_call
from areafetch.ratelimit.models import Grant, LimiterStatus
from areafetch.redis import socket_timeout_of
from areafetch.tracing import limiter_span

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager
    from types import TracebackType

    import redis.asyncio as aioredis

    from areafetch.ratelimit.policy import LimitPolicy

__all__ = ["Limiter"]

log = logging.getLogger(__name__)

# Reply codes of acquire-3.lua and confirm-3.lua.
_GRANTED: Final = 0
_ALL_LEASES_HELD: Final = 1
_SLOT_TOO_FAR: Final = 2
_BUDGET_SPENT: Final = 3
_CONFIRMED: Final = 0
_PAUSED: Final = 1
_LOST: Final = 2

_US_PER_S: Final = 1_000_000
# Idle state lives this long; past it a limiter starts again with an empty bucket.
_STATE_TTL_S: Final = 7 * 86_400
# A wake-up entry nobody popped is stale after this.
_WAKE_TTL_MS: Final = 10_000
# A wait at least this long is written in the waiting job's own log (the console shows it).
_LOGGED_WAIT_S: Final = 0.1
# The longest single BLPOP while waiting for a lease: only a safety net, since a release
# wakes a waiter at once and a dead holder's lease expiry is waited for exactly.
_MAX_BLOCK_S: Final = 5.0
# Redis reads a BLPOP timeout of 0 as "forever"; never send less than this.
_MIN_BLOCK_S: Final = 0.01


def _utc(us: int) -> datetime:
    return datetime.fromtimestamp(us / _US_PER_S, tz=UTC)


class Limiter:
    """The shared limiter of one upstream: rate (GCRA), in-flight leases, pause and budget.

    Every `Limiter` with the same ``name`` on the same Redis shares one limit, whichever
    process or machine it lives in; give them the same policy.

    Args:
        redis: an asyncio client (see `areafetch.redis.create_client`); its socket timeout
            bounds how long one wait for a lease blocks a connection.
        name: the limiter's name, e.g. ``"overpass"``; its keys are
            ``{areafetch:limiter:<name>}:*``, one hash tag, so one Redis Cluster slot.
        policy: the limits.
        namespace: the keys' namespace (`AREAFETCH_LIMITER_NAMESPACE`), so deployments or test
            runs sharing one Redis keep their limits apart.
        metrics_label: the ``limiter`` label of its metrics (default: the name); limiters
            named per client share one label, so metrics neither grow nor show client keys.

    Example:
        >>> limiter = Limiter(redis, "overpass", policy_for(settings, "overpass"))
        >>> async with limiter.acquire():
        ...     response = await http.post(url, data=query)

    Raises (from `acquire`):
        LimiterTimeout: the slot is further than ``max_wait_s``; nothing was reserved.
        BudgetExhausted: the day's budget is spent, raised at once.
        ServiceUnavailable: Redis cannot be reached; nothing is ever granted without it.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        name: str,
        policy: LimitPolicy,
        *,
        metrics_label: str | None = None,
        namespace: str = LIMITER_KEY_PREFIX,
    ) -> None:
        self._redis = redis
        self._metrics_label = metrics_label or name
        self._policy = policy
        self._keys = LimiterKeys.for_name(name, namespace)
        self._scripts = scripts_for(redis)
        self._interval_us = policy.emission_interval_us
        self._lease_ttl_us = round(policy.lease_ttl_s * _US_PER_S)
        keys = self._keys
        self._acquire_keys = (keys.state, keys.leases, keys.budget)
        self._confirm_keys = (keys.state, keys.leases, keys.wake)
        self._release_keys = (keys.leases, keys.wake)
        socket_timeout = socket_timeout_of(redis)
        self._max_block_s = _MAX_BLOCK_S if not socket_timeout else min(_MAX_BLOCK_S, socket_timeout / 2)

    @property
    def name(self) -> str:
        """The limiter's name."""
        return self._keys.name

    @property
    def policy(self) -> LimitPolicy:
        """The limits this instance applies."""
        return self._policy

    @property
    def keys(self) -> tuple[str, ...]:
        """Every Redis key this limiter may use (for operators and tests)."""
        return self._keys.all()

    def __repr__(self) -> str:
        return f"Limiter({self.name!r}, {self._policy!r})"

    # --- acquire / release ---------------------------------------------------------------------

    def acquire(self, *, max_wait_s: float | None = None) -> AbstractAsyncContextManager[Grant]:
        """Wait for a rate slot and an in-flight lease; hold the lease for the ``async with`` block.

        Args:
            max_wait_s: overrides the policy's ``max_wait_s`` for this call.
        """
        wait_s = self._policy.max_wait_s if max_wait_s is None else max_wait_s
        if not wait_s >= 0 or math.isinf(wait_s):
            raise ValueError("max_wait_s must be a finite number >= 0")
        return _Acquisition(self, wait_s)

    async def _enter(self, max_wait_s: float) -> tuple[Grant, LeaseKeeper]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + max_wait_s
        policy = self._policy
        while True:
            await run_check_before_call()
            remaining_s = deadline - loop.time()
            lease_id = secrets.token_hex(10)
            reply = await self._scripts.acquire(
                self._acquire_keys,
                (
                    lease_id,
                    self._interval_us,
                    policy.burst,
                    max(0, int(remaining_s * _US_PER_S)),
                    policy.max_in_flight,
                    self._lease_ttl_us,
                    policy.daily_requests or 0,
                    policy.daily_bytes or 0,
                    _STATE_TTL_S,
                    1 if policy.start_full else 0,
                ),
            )
            code = reply[0]
            if code == _GRANTED:
                wait_us, now_us, epoch = reply[1], reply[2], reply[3]
                if wait_us <= 0:
                    confirmed_us = now_us
                else:
                    outcome = await self._sleep_and_confirm(lease_id, epoch, wait_us)
                    if outcome[0] == _PAUSED:
                        pause_left_s = outcome[1] / _US_PER_S
                        if loop.time() + pause_left_s > deadline:
                            raise LimiterTimeout(
                                f"limiter {self.name!r} is paused for {pause_left_s:.1f} s more, "
                                f"beyond max_wait_s={max_wait_s:g}"
                            )
                        await asyncio.sleep(pause_left_s)
                        continue
                    if outcome[0] == _LOST:
                        continue
                    confirmed_us = outcome[1]
                keeper = LeaseKeeper(
                    functools.partial(self._extend, lease_id),
                    interval_s=policy.lease_ttl_s / 3,
                    description=f"{self.name}/{lease_id}",
                )
                keeper.start()
                grant = Grant(self.name, lease_id, now_us + wait_us, confirmed_us, loop.time() - started)
                return grant, keeper
            if code == _ALL_LEASES_HELD:
                if remaining_s <= 0:
                    raise LimiterTimeout(
                        f"limiter {self.name!r}: no in-flight slot free within max_wait_s={max_wait_s:g}"
                    )
                await self._wait_for_release(min(reply[1] / _US_PER_S, remaining_s, self._max_block_s))
                continue
            if code == _SLOT_TOO_FAR:
                raise LimiterTimeout(
                    f"limiter {self.name!r}: next slot in {reply[1] / _US_PER_S:.3f} s, "
                    f"beyond max_wait_s={max_wait_s:g}",
                    retry_after_s=reply[1] / _US_PER_S,
                )
            if code == _BUDGET_SPENT:
                what = "requests" if reply[1] == 1 else "bytes"
                raise BudgetExhausted(
                    f"daily {what} budget of limiter {self.name!r} is spent: "
                    f"{reply[2]} of {reply[3]} {what} used today (UTC)"
                )
            raise RuntimeError(f"acquire-3.lua replied {reply!r}")

    async def _sleep_and_confirm(self, lease_id: str, epoch: int, wait_us: int) -> list[int]:
        try:
            await asyncio.sleep(wait_us / _US_PER_S)
            await run_check_before_call()
            return await self._scripts.confirm(
                self._confirm_keys,
                (
                    lease_id,
                    epoch,
                    self._lease_ttl_us,
                    self._policy.max_in_flight,
                    _WAKE_TTL_MS,
                    self._interval_us,
                ),
            )
        except BaseException:
            # Cancelled or Redis gone: never go ahead, and free the lease if Redis still answers.
            await self._release(lease_id)
            raise

    async def _wait_for_release(self, timeout_s: float) -> None:
        try:
            await self._redis.blpop([self._keys.wake], timeout=max(_MIN_BLOCK_S, timeout_s))
        except RedisError as exc:
            raise ServiceUnavailable("redis", f"rate limiter {self.name!r}: {exc}") from exc

    async def _extend(self, lease_id: str) -> bool:
        reply = await self._scripts.extend_lease((self._keys.leases,), (lease_id, self._lease_ttl_us))
        return reply[0] == 1

    async def _release(self, lease_id: str) -> None:
        try:
            await self._scripts.release(
                self._release_keys, (lease_id, self._policy.max_in_flight, _WAKE_TTL_MS)
            )
        except ServiceUnavailable as exc:
            # The lease expires by itself; failing the finished call would help no one.
            log.warning("lease release failed, it will expire: %s/%s: %s", self.name, lease_id, exc.detail)

    # --- pause ----------------------------------------------------------------------------------

    async def pause(self, seconds: float) -> datetime:
        """Stop every holder of this limiter for ``seconds`` (Redis time); a pause only lengthens.

        Callers sleeping for a slot reserved before the pause are stopped too; after the pause,
        traffic resumes at the steady rate, without a burst. How long to pause is the
        caller's decision (see `pause_duration_s`).

        Returns:
            The end of the pause now in force.
        """
        if not seconds > 0 or math.isinf(seconds):
            raise ValueError("seconds must be a finite number > 0")
        reply = await self._scripts.pause(
            (self._keys.state,),
            (round(seconds * _US_PER_S), self._interval_us, self._policy.burst, _STATE_TTL_S),
        )
        LIMITER_PAUSES.labels(self._metrics_label).inc()
        return _utc(reply[0])

    # --- status and budget ------------------------------------------------------------------

    async def status(self) -> LimiterStatus:
        """A snapshot of the shared state, read atomically."""
        now_us, tat_us, paused_until_us, in_flight, requests, bytes_ = await self._scripts.status(
            self._acquire_keys, ()
        )
        policy = self._policy
        missing = tat_us < 0
        slot = gcra.reserve(
            tat_us=now_us if missing and policy.start_full else None if missing else tat_us,
            now_us=now_us,
            interval_us=self._interval_us,
            burst=policy.burst,
            max_wait_us=2**62,
        )
        requests_left = None if policy.daily_requests is None else max(0, policy.daily_requests - requests)
        bytes_left = None if policy.daily_bytes is None else max(0, policy.daily_bytes - bytes_)
        return LimiterStatus(
            name=self.name,
            server_time=_utc(now_us),
            next_slot_at=_utc(now_us + slot.wait_us),
            next_slot_in_s=slot.wait_us / _US_PER_S,
            in_flight=in_flight,
            max_in_flight=policy.max_in_flight,
            paused_until=_utc(paused_until_us) if paused_until_us > now_us else None,
            requests_today=requests,
            bytes_today=bytes_,
            requests_left=requests_left,
            bytes_left=bytes_left,
            budget_exhausted=requests_left == 0 or bytes_left == 0,
        )

    async def record_bytes(self, n: int) -> int:
        """Count ``n`` response bytes against today's byte budget; returns today's total."""
        if n < 0:
            raise ValueError("n must be >= 0")
        reply = await self._scripts.record_bytes((self._keys.budget,), (n,))
        return reply[0]


class _Acquisition:
    """The ``async with`` of `Limiter.acquire`: enter waits for a grant, exit gives the lease back."""

    __slots__ = ("_keeper", "_lease_id", "_limiter", "_max_wait_s", "_waited_s")

    def __init__(self, limiter: Limiter, max_wait_s: float) -> None:
        self._limiter = limiter
        self._max_wait_s = max_wait_s
        self._keeper: LeaseKeeper | None = None
        self._lease_id = ""
        self._waited_s = 0.0

    async def __aenter__(self) -> Grant:
        if self._keeper is not None:
            raise RuntimeError("this acquire() is already in use; call acquire() again")
        with limiter_span(self._limiter.name) as span:
            grant, self._keeper = await self._limiter._enter(self._max_wait_s)
            span.set_attribute("areafetch.limiter.waited_s", grant.waited_s)
        self._lease_id = grant.lease_id
        self._waited_s = grant.waited_s
        LIMITER_WAIT.labels(self._limiter._metrics_label).observe(grant.waited_s)
        return grant

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            try:
                await keeper.stop()
            finally:
                await self._limiter._release(self._lease_id)
            # After the call, never between the grant and the call: a round trip there would make the
            # call leave late, and the next one (on time) arrive too soon after it at the upstream.
            if self._waited_s >= _LOGGED_WAIT_S:
                await job_log(f"waited {self._waited_s:.2f} s for limiter {self._limiter.name}")
