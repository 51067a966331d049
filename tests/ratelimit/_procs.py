"""What the child processes of the multi-process tests run (started with the 'spawn' context).

Each child builds its own Redis client and `Limiter`, reports "ready", waits for the common
start signal, then calls `acquire` as fast as it can. For every grant it records the slot and
confirmation Redis handed out and, from inside the ``async with`` block, Redis ``TIME`` at the
start and end of the (simulated) upstream call.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import redis

from areafetch.errors import LimiterTimeout, ServiceUnavailable
from areafetch.ratelimit import Limiter, LimitPolicy
from areafetch.redis import create_client
from tests.ratelimit._analysis import US_PER_S, bound_excess, max_in_window, max_overlap

T = TypeVar("T")

if TYPE_CHECKING:
    from multiprocessing.queues import Queue
    from multiprocessing.synchronize import Event

    import redis.asyncio as aioredis


@dataclass(frozen=True)
class HammerSpec:
    redis_url: str
    name: str
    policy: dict[str, Any]
    duration_s: float
    cluster: bool = False  # redis_url names a node of a Redis Cluster
    call_max_s: float = 0.0  # each simulated upstream call lasts uniform(0, call_max_s)...
    long_call_share: float = 0.0  # ...except this share, which lasts uniform(*long_call_s)
    long_call_s: tuple[float, float] = (0.15, 0.4)
    clock_offset_s: float = 0.0  # this process's wall clock is off by this much
    pause_after_s: float | None = None  # this process pauses the limiter once, this long after start...
    pause_once_granted: int = 0  # ...and once this many processes have each been granted a call
    pause_s: float = 0.0
    seed: int = 0


@dataclass
class HammerResult:
    index: int
    grants: list[tuple[int, int, int, int]] = field(default_factory=list)  # slot, confirmed, start, end
    timeouts: int = 0
    unavailable: int = 0
    measured_clock_offset_s: float = 0.0
    pause: tuple[int, int] | None = None  # (set at, until), server us


async def server_time_us(client: aioredis.Redis) -> int:
    seconds, micros = await client.time()
    return seconds * 1_000_000 + micros


def _skew_clock(offset_s: float) -> None:
    """Shift this process's wall clock, as on a machine whose clock is wrong."""
    real_time, real_time_ns = time.time, time.time_ns
    time.time = lambda: real_time() + offset_s
    time.time_ns = lambda: real_time_ns() + int(offset_s * 1e9)


async def _hammer(spec: HammerSpec, index: int, go: Event, out: Queue[Any]) -> HammerResult:
    client = create_client(spec.redis_url, socket_timeout_s=10, cluster=spec.cluster)
    limiter = Limiter(client, spec.name, LimitPolicy(**spec.policy))
    result = HammerResult(index)
    rng = random.Random(spec.seed)
    try:
        result.measured_clock_offset_s = time.time() - (await server_time_us(client)) / 1e6
        out.put(("ready", index))
        if not await asyncio.to_thread(go.wait, 120):
            raise RuntimeError("no start signal")
        granted_key = f"test-hammer-granted:{spec.name}"
        loop = asyncio.get_running_loop()
        started = loop.time()
        end = started + spec.duration_s
        while loop.time() < end:
            if (
                spec.pause_after_s is not None
                and result.pause is None
                and loop.time() >= started + spec.pause_after_s
                and int(await client.get(granted_key) or 0) >= spec.pause_once_granted
            ):
                until = await limiter.pause(spec.pause_s)
                until_us = round(until.timestamp() * 1e6)
                result.pause = (until_us - round(spec.pause_s * 1e6), until_us)
            try:
                async with limiter.acquire() as grant:
                    start_us = await server_time_us(client)
                    if rng.random() < spec.long_call_share:
                        await asyncio.sleep(rng.uniform(*spec.long_call_s))
                    elif spec.call_max_s:
                        await asyncio.sleep(rng.uniform(0, spec.call_max_s))
                    end_us = await server_time_us(client)
                if not result.grants:
                    await client.incr(granted_key)
                    await client.expire(granted_key, 120)
                result.grants.append((grant.slot_us, grant.confirmed_us, start_us, end_us))
            except LimiterTimeout:
                result.timeouts += 1
            except ServiceUnavailable:
                result.unavailable += 1
    finally:
        await client.aclose()
    return result


def hammer(spec: HammerSpec, index: int, go: Event, out: Queue[Any]) -> None:
    """Child process entry point: run `_hammer` and put its `HammerResult` on ``out``."""
    if spec.clock_offset_s:
        _skew_clock(spec.clock_offset_s)
    try:
        out.put(("result", asyncio.run(_hammer(spec, index, go, out))))
    except BaseException as exc:
        out.put(("error", f"child {index}: {exc!r}"))
        raise


async def _hold_forever(
    redis_url: str, name: str, policy: dict[str, Any], holding: Event, out: Queue[Any]
) -> None:
    client = create_client(redis_url, socket_timeout_s=10)
    limiter = Limiter(client, name, LimitPolicy(**policy))
    async with limiter.acquire() as grant:
        out.put(grant.lease_id)
        holding.set()
        await asyncio.Event().wait()  # the upstream call that never returns; the test kills us


def hold_forever(redis_url: str, name: str, policy: dict[str, Any], holding: Event, out: Queue[Any]) -> None:
    """Child process entry point: take a lease and hang until killed."""
    asyncio.run(_hold_forever(redis_url, name, policy, holding, out))


def server_us(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return int(seconds) * US_PER_S + int(micros)


def run_processes(
    specs: list[HammerSpec], during: Callable[[redis.Redis], T] | None = None
) -> tuple[list[HammerResult], int, T | None]:
    """Start one spawned process per spec, start them together, collect their results.

    Returns the results, the server time of the start signal, and what ``during`` returned
    (it runs in this process while the children hammer).
    """
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Event()
    out: Any = ctx.Queue()
    procs = [ctx.Process(target=hammer, args=(spec, i, go, out), daemon=True) for i, spec in enumerate(specs)]
    client = redis.Redis.from_url(specs[0].redis_url)  # TIME of one node: every node shares this host's clock
    try:
        for proc in procs:
            proc.start()
        ready = 0
        while ready < len(procs):
            kind, payload = out.get(timeout=120)
            assert kind == "ready", payload
            ready += 1
        start_us = server_us(client)
        go.set()
        extra = during(client) if during else None
        results: list[HammerResult] = []
        while len(results) < len(procs):
            kind, payload = out.get(timeout=max(spec.duration_s for spec in specs) + 60)
            assert kind == "result", payload
            results.append(payload)
        for proc in procs:
            proc.join(30)
        return sorted(results, key=lambda r: r.index), start_us, extra
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
                proc.join(10)
            if proc.is_alive():
                proc.kill()
                proc.join()
        out.close()
        client.close()


def grants_of(results: list[HammerResult]) -> list[tuple[int, int, int, int]]:
    return sorted(grant for result in results for grant in result.grants)


def check_bound(results: list[HammerResult], *, burst: int, rate_per_s: float) -> dict[str, Any]:
    """Assertions every hammer run must pass; returns the figures worth reporting."""
    grants = grants_of(results)
    slots = [slot for slot, _, _, _ in grants]
    starts = [start for _, _, start, _ in grants]
    assert all(result.grants for result in results), "a process got no grant at all"
    assert sum(result.unavailable for result in results) == 0
    excess = bound_excess(slots, burst=burst, rate_per_s=rate_per_s)
    assert excess <= 1e-9, f"a window exceeds burst + rate * W by {excess}"
    lateness = sorted(start - slot for slot, _, start, _ in grants)
    assert lateness[0] >= 0, "a call started before its slot"
    return {
        "grants": len(grants),
        "max_excess_over_bound": round(excess, 3),
        "max_grants_in_1s_window": max_in_window(slots, US_PER_S),
        "bound_for_1s": burst + rate_per_s,
        "max_call_starts_in_1s_window": max_in_window(starts, US_PER_S),
        "max_calls_in_flight": max_overlap([(start, end) for _, _, start, end in grants]),
        "call_start_after_slot_ms_p50_max": (lateness[len(lateness) // 2] / 1000, lateness[-1] / 1000),
    }
