"""The limiter next to `limits` (moving window, Redis) and PyrateLimiter (Redis bucket).

Two measurements, each library in turn, all on the local Redis:

1. Overhead: the limit set far above what the processes can ask for, so nobody waits; each
   process acquires (and for areafetch releases) as fast as it can. Acquire latency p50/p99
   and acquire cycles per second, with 1 and with 8 processes.
2. Hammer: 8 processes acquire as fast as they can at 20/s (areafetch: burst 5, 3 in flight),
   each "call" lasting 0-50 ms, one in five 150-400 ms. Every call records Redis TIME when
   it starts and ends. Counted: windows over areafetch's bound ``5 + 20 * W``, the most calls
   in any 1 s window (the others promise at most 20), calls in flight, and utilisation
   against ``5 + 20 * D``. Run once with true clocks and once with the processes' wall clocks
   off by -2 s / +2 s, as on machines whose clocks disagree.

`limits` and PyrateLimiter only say yes or no, so waiting is built the way their documentation
suggests: `limits` sleeps until the window's reset time, PyrateLimiter's `try_acquire_async`
blocks by itself.

    python -m bench limiter        (or: python -m bench.limiter)

Prints Markdown tables and writes bench/results/limiter.json. Takes about a minute and a half.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import random
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import redis

from bench._infra import REDIS_URL
from bench._report import Figure, Report, save

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager
    from multiprocessing.queues import Queue
    from multiprocessing.synchronize import Event

    import redis.asyncio as aioredis


Library = Literal["areafetch", "limits", "pyrate"]
LIBRARIES: tuple[Library, ...] = ("areafetch", "limits", "pyrate")
LABELS = {
    "areafetch": "areafetch",
    "limits": "limits 5.8, moving window",
    "pyrate": "PyrateLimiter 4.5, RedisBucket",
}

RATE, BURST, IN_FLIGHT = 20.0, 5, 3
# How each library is told "20/s" in the hammer, and what it then promises: at most N calls in
# any window of that length. PyrateLimiter can say "20/s, bursts of 5" exactly (5 per 250 ms
# allows at most 5 + 20 * W in any window W, areafetch's bound); `limits` has no window shorter
# than a second, so 20 per second is its closest.
PROMISES: dict[Library, tuple[int, int] | None] = {
    "areafetch": None,  # GCRA: at most BURST + RATE * W in every window W
    "limits": (20, 1_000_000),
    "pyrate": (5, 250_000),
}
CONFIGURED = {
    "areafetch": f"{RATE:g}/s, burst {BURST}, {IN_FLIGHT} in flight",
    "limits": "20 per 1 s",
    "pyrate": "5 per 250 ms",
}
UNLIMITED_RATE = 100_000.0
OVERHEAD_S = 2.0
HAMMER_S = 6.0
HAMMER_PROCESSES = 8
SKEW_S = (-2.0, 2.0)
US_PER_S = 1_000_000


@dataclass(frozen=True)
class Run:
    library: Library
    mode: Literal["overhead", "hammer"]
    name: str  # holds the run's uuid; every key the run creates contains it
    processes: int
    duration_s: float
    skewed: bool = False


@dataclass
class ChildResult:
    index: int
    cycles: int = 0
    latencies_us: list[float] = field(default_factory=list)
    calls: list[tuple[int, int, int]] = field(default_factory=list)  # slot (areafetch) or -1, start, end
    refused: int = 0


# --- the child process ---------------------------------------------------------------------------


def _skew_clock(offset_s: float) -> None:
    real_time, real_time_ns = time.time, time.time_ns
    time.time = lambda: real_time() + offset_s
    time.time_ns = lambda: real_time_ns() + int(offset_s * 1e9)


async def _server_us(client: aioredis.Redis) -> int:
    seconds, micros = await client.time()
    return seconds * US_PER_S + micros


AcquireFactory = Callable[[], "AbstractAsyncContextManager[int]"]


async def _open_limiter(
    run: Run, client: aioredis.Redis
) -> tuple[AcquireFactory, Callable[[], Awaitable[None]]]:
    """An ``async with`` factory that waits for permission (yielding the slot, or -1), and a closer."""
    rate = UNLIMITED_RATE if run.mode == "overhead" else RATE
    if run.library == "areafetch":
        from areafetch.ratelimit import Limiter, LimitPolicy

        overhead = run.mode == "overhead"
        policy = LimitPolicy(
            rate_per_s=rate,
            burst=int(rate) if overhead else BURST,
            max_in_flight=10_000 if overhead else IN_FLIGHT,
            max_wait_s=60,
        )
        limiter = Limiter(client, run.name, policy)

        @contextlib.asynccontextmanager
        async def areafetch_acquire() -> AsyncIterator[int]:
            async with limiter.acquire() as grant:
                yield grant.slot_us

        async def nothing() -> None:
            return None

        return areafetch_acquire, nothing

    if run.library == "limits":
        from limits import RateLimitItemPerSecond
        from limits.aio.storage import RedisStorage
        from limits.aio.strategies import MovingWindowRateLimiter

        storage = RedisStorage(f"async+{REDIS_URL}", implementation="redispy")
        strategy = MovingWindowRateLimiter(storage)
        item = RateLimitItemPerSecond(int(rate))

        @contextlib.asynccontextmanager
        async def limits_acquire() -> AsyncIterator[int]:
            while not await strategy.hit(item, run.name):
                stats = await strategy.get_window_stats(item, run.name)
                await asyncio.sleep(max(0.001, stats.reset_time - time.time()))
            yield -1

        async def close_limits() -> None:
            return None

        return limits_acquire, close_limits

    from pyrate_limiter import Duration, Rate, RedisBucket
    from pyrate_limiter import Limiter as PyrateLimiter

    rates = [Rate(int(rate), Duration.SECOND)] if run.mode == "overhead" else [Rate(5, 250)]  # ms
    bucket = await RedisBucket.init(rates, client, f"pyrate:{run.name}")
    pyrate = PyrateLimiter(bucket)

    @contextlib.asynccontextmanager
    async def pyrate_acquire() -> AsyncIterator[int]:
        while not await pyrate.try_acquire_async(run.name, blocking=True):
            pass
        yield -1

    async def close_pyrate() -> None:
        pyrate.close()

    return pyrate_acquire, close_pyrate


async def _child(run: Run, index: int, go: Event, out: Queue[Any]) -> ChildResult:
    from areafetch.redis import create_client

    client = create_client(REDIS_URL, socket_timeout_s=10)
    acquire, close = await _open_limiter(run, client)
    result = ChildResult(index)
    rng = random.Random(index)
    try:
        await client.ping()
        out.put(("ready", index))
        if not await asyncio.to_thread(go.wait, 120):
            raise RuntimeError("no start signal")
        loop = asyncio.get_running_loop()
        end = loop.time() + run.duration_s
        perf = time.perf_counter
        while loop.time() < end:
            if run.mode == "overhead":
                started = perf()
                async with acquire():
                    result.latencies_us.append((perf() - started) * 1e6)
                result.cycles += 1
                continue
            async with acquire() as slot:
                start_us = await _server_us(client)
                if rng.random() < 0.2:
                    await asyncio.sleep(rng.uniform(0.15, 0.4))
                else:
                    await asyncio.sleep(rng.uniform(0, 0.05))
                end_us = await _server_us(client)
            result.calls.append((slot, start_us, end_us))
    finally:
        await close()
        await client.aclose()
    return result


def child_main(run: Run, index: int, go: Event, out: Queue[Any]) -> None:
    """Process entry point (spawned): run `_child`, put its result on ``out``."""
    if run.skewed:
        _skew_clock(SKEW_S[index % len(SKEW_S)])  # before any limiter library reads the clock
    try:
        out.put(("result", asyncio.run(_child(run, index, go, out))))
    except BaseException as exc:
        out.put(("error", f"{run.library} child {index}: {exc!r}"))
        raise


# --- the parent: start, collect, measure ---------------------------------------------------------


def _execute(run: Run) -> tuple[list[ChildResult], int]:
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Event()
    out: Any = ctx.Queue()
    procs = [
        ctx.Process(target=child_main, args=(run, i, go, out), daemon=True) for i in range(run.processes)
    ]
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for proc in procs:
            proc.start()
        for _ in procs:
            kind, payload = out.get(timeout=120)
            if kind != "ready":
                raise RuntimeError(payload)
        seconds, micros = client.time()
        go_us = int(seconds) * US_PER_S + int(micros)
        go.set()
        results: list[ChildResult] = []
        for _ in procs:
            kind, payload = out.get(timeout=run.duration_s + 60)
            if kind != "result":
                raise RuntimeError(payload)
            results.append(payload)
        for proc in procs:
            proc.join(30)
        return results, go_us
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
                proc.join()
        out.close()
        keys = list(client.scan_iter(match=f"*{run.name}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _over_bound(times_us: list[int]) -> tuple[int, float]:
    """Windows ``[t_i, t_j]`` holding more than ``BURST + RATE * W`` calls: (how many calls end
    such a window, the worst excess)."""
    times = sorted(times_us)
    violating, worst = 0, float("-inf")
    for j, end in enumerate(times):
        excess = max((j - i + 1) - (BURST + RATE * (end - times[i]) / US_PER_S) for i in range(j + 1))
        worst = max(worst, excess)
        violating += excess > 1e-9
    return violating, worst


def _max_in_window(times_us: list[int], window_us: int) -> int:
    times = sorted(times_us)
    best = lo = 0
    for hi, end in enumerate(times):
        while end - times[lo] > window_us:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def _max_in_flight(calls: list[tuple[int, int, int]]) -> int:
    events = sorted([(start, 1) for _, start, _ in calls] + [(end, -1) for _, _, end in calls])
    best = current = 0
    for _, delta in events:
        current += delta
        best = max(best, current)
    return best


def measure_overhead(library: Library, processes: int, tag: str) -> dict[str, Any]:
    run = Run(library, "overhead", f"bench-{tag}-{library}-o{processes}", processes, OVERHEAD_S)
    results, _ = _execute(run)
    latencies = [latency for result in results for latency in result.latencies_us]
    cycles = sum(result.cycles for result in results)
    return {
        "library": library,
        "processes": processes,
        "cycles_per_s": cycles / OVERHEAD_S,
        "acquire_p50_ms": _percentile(latencies, 0.50) / 1000,
        "acquire_p99_ms": _percentile(latencies, 0.99) / 1000,
        "acquire_mean_ms": statistics.fmean(latencies) / 1000,
    }


def measure_hammer(library: Library, tag: str, *, skewed: bool) -> dict[str, Any]:
    suffix = "skew" if skewed else "true"
    run = Run(library, "hammer", f"bench-{tag}-{library}-{suffix}", HAMMER_PROCESSES, HAMMER_S, skewed)
    results, go_us = _execute(run)
    calls = sorted(call for result in results for call in result.calls)
    starts = [start for _, start, _ in calls]
    in_run = [start for start in starts if go_us <= start <= go_us + HAMMER_S * US_PER_S]
    violating, worst = _over_bound(starts)
    promise = PROMISES[library]
    figures: dict[str, Any] = {
        "library": library,
        "clocks": f"{SKEW_S[0]:+g} s / {SKEW_S[1]:+g} s" if skewed else "true",
        "calls": len(calls),
        "utilisation": len(in_run) / (BURST + RATE * HAMMER_S),
        "max_in_1s": _max_in_window(starts, US_PER_S),
        "max_in_250ms": _max_in_window(starts, US_PER_S // 4),
        "calls_over_bound": violating,
        "worst_excess_over_bound": worst,
        "own_promise_broken": violating if promise is None else _windows_over(starts, *promise),
        "max_in_flight": _max_in_flight(calls),
    }
    if library == "areafetch":
        slots = [slot for slot, _, _ in calls]
        figures["slots_over_bound"] = _over_bound(slots)[0]
        figures["calls_before_slot"] = sum(1 for slot, start, _ in calls if start < slot)
    return figures


def _windows_over(times: list[int], limit: int, window_us: int) -> int:
    """Calls that end a window of ``window_us`` holding more than ``limit`` calls."""
    return sum(1 for j, end in enumerate(times) if j - _first_at_or_after(times, end - window_us) + 1 > limit)


def _first_at_or_after(times: list[int], at: int) -> int:
    lo, hi = 0, len(times)
    while lo < hi:
        mid = (lo + hi) // 2
        if times[mid] < at:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _tables(overhead: list[dict[str, Any]], hammer: list[dict[str, Any]]) -> str:
    lines = [
        "Acquire overhead, limit far above demand (nobody waits); areafetch's cycle includes its release:",
        "",
        "| limiter | processes | acquire cycles/s | acquire p50 (ms) | acquire p99 (ms) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {LABELS[row['library']]} | {row['processes']} | {row['cycles_per_s']:,.0f} | "
        f"{row['acquire_p50_ms']:.2f} | {row['acquire_p99_ms']:.2f} |"
        for row in overhead
    ]
    lines += [
        "",
        f"Hammer: {HAMMER_PROCESSES} processes, {HAMMER_S:g} s at {RATE:g}/s, calls of 0-50 ms "
        "(one in five 150-400 ms); call start times read from Redis TIME. Utilisation is against "
        f'{BURST} + {RATE:g}·D; "over own promise" counts calls that end a window holding more '
        "than the library promises (areafetch: the bound; limits: 20 in 1 s; PyrateLimiter: 5 in 250 ms):",
        "",
        "| limiter | configured as | clocks | calls | utilisation | max in any 1 s | max in any 250 ms "
        f"| calls over {BURST} + {RATE:g}·W | calls over own promise | max in flight |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {LABELS[row['library']]} | {CONFIGURED[row['library']]} | {row['clocks']} | {row['calls']} | "
        f"{row['utilisation']:.3f} | {row['max_in_1s']} | {row['max_in_250ms']} | {row['calls_over_bound']} | "
        f"{row['own_promise_broken']} | {row['max_in_flight']} |"
        for row in hammer
    ]
    return "\n".join(lines)


def _figures(overhead: list[dict[str, Any]], hammer: list[dict[str, Any]]) -> list[Figure]:
    ours = [row for row in overhead if row["library"] == "areafetch"]
    figures = [
        Figure(f"acquire+release cycles/s, {row['processes']} process(es)", row["cycles_per_s"], "/s")
        for row in ours
    ]
    for row in hammer:
        if row["library"] == "areafetch":
            over = row["calls_over_bound"]
            figures.append(
                Figure(
                    f"hammer, clocks {row['clocks']}: calls over 5 + 20·W", over, "calls", "= 0", over == 0
                )
            )
    return figures


def main() -> Report:
    tag = uuid.uuid4().hex[:12]
    started = time.monotonic()
    overhead = [measure_overhead(lib, procs, tag) for procs in (1, HAMMER_PROCESSES) for lib in LIBRARIES]
    hammer = [measure_hammer(lib, tag, skewed=skewed) for skewed in (False, True) for lib in LIBRARIES]
    table = _tables(overhead, hammer)
    print(table)
    print(f"\n({time.monotonic() - started:.0f} s)")
    settings = {
        "rate_per_s": RATE,
        "burst": BURST,
        "max_in_flight": IN_FLIGHT,
        "overhead_s": OVERHEAD_S,
        "hammer_s": HAMMER_S,
        "hammer_processes": HAMMER_PROCESSES,
        "skew_s": SKEW_S,
    }
    data = {"redis_url": REDIS_URL, "settings": settings, "overhead": overhead, "hammer": hammer}
    return save(Report("limiter", "Limiter overhead and bound", _figures(overhead, hammer), table, data))


if __name__ == "__main__":
    main()
