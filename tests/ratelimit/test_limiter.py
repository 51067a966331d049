"""The limiter on the real Redis, one process: slots, max_wait, budgets, leases, pause, lost state,
and failing closed."""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import random
import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from areafetch.areas.budget import budget_refusals, fits_budget
from areafetch.errors import BudgetExhausted, LimiterTimeout, ServiceUnavailable
from areafetch.ratelimit import Grant, Limiter, LimitPolicy, checked_before_each_call
from areafetch.ratelimit._lease import LeaseKeeper
from areafetch.redis import create_client
from tests.helpers import REDIS_URL
from tests.ratelimit import _procs
from tests.ratelimit._proxy import CuttableProxy

MakeLimiter = Callable[..., Limiter]

pytestmark = pytest.mark.timeout(120)


async def server_us(client: aioredis.Redis) -> int:
    return await _procs.server_time_us(client)


@pytest.fixture
async def other_client() -> AsyncIterator[aioredis.Redis]:
    """A second connection pool, as another worker would have."""
    client = create_client(REDIS_URL, socket_timeout_s=10)
    yield client
    await client.aclose()


def dead_client() -> aioredis.Redis:
    """A client of a port nobody listens on, that gives up at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return aioredis.Redis(
        host="127.0.0.1",
        port=port,
        socket_connect_timeout=0.5,
        socket_timeout=0.5,
        retry=Retry(NoBackoff(), 0),
    )


async def take(limiter: Limiter, **kwargs: Any) -> Grant:
    async with limiter.acquire(**kwargs) as grant:
        return grant


def on_reservation(limiter: Limiter, monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """An event set when ``limiter`` has reserved a slot and starts sleeping for it."""
    reserved = asyncio.Event()
    sleep_and_confirm = limiter._sleep_and_confirm

    async def spy(lease_id: str, epoch: int, wait_us: int) -> list[int]:
        reserved.set()
        return await sleep_and_confirm(lease_id, epoch, wait_us)

    monkeypatch.setattr(limiter, "_sleep_and_confirm", spy)
    return reserved


async def sleeping_for_its_slot(reserved: asyncio.Event, task: asyncio.Task[Grant]) -> None:
    """Wait until ``task`` sleeps for a reserved slot; fail, not hang, if it was granted at once."""
    waiter = asyncio.create_task(reserved.wait())
    await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    assert reserved.is_set(), "the caller was granted without sleeping: the machine stalled a whole interval"


# Two seconds between slots: the second caller still has to sleep for its slot when the machine
# stalls for a second between the first grant and the second request (a loaded CI run did).
SLOW = LimitPolicy(rate_per_s=0.5, burst=1, max_in_flight=5, max_wait_s=10)


# --- slots -------------------------------------------------------------------------------------


async def test_a_grant_holds_a_lease_and_never_starts_before_its_slot(
    make_limiter: MakeLimiter, client: aioredis.Redis
) -> None:
    limiter = make_limiter(LimitPolicy(rate_per_s=10, burst=5, max_in_flight=5, max_wait_s=5))
    before = await server_us(client)
    async with limiter.acquire() as grant:
        inside = await server_us(client)
        status = await limiter.status()
    # A limiter with no state starts with an empty bucket: the first slot is one interval away.
    assert grant.slot_us - before >= 100_000
    assert inside >= grant.confirmed_us >= grant.slot_us
    assert status.in_flight == 1
    after = await limiter.status()
    assert after.in_flight == 0
    assert after.requests_today == 1


async def test_a_slot_beyond_max_wait_raises_and_reserves_nothing(
    make_limiter: MakeLimiter, client: aioredis.Redis
) -> None:
    limiter = make_limiter(
        LimitPolicy(rate_per_s=5, burst=1, max_in_flight=2, max_wait_s=2, daily_requests=50)
    )
    await take(limiter)
    state, leases, _, budget = limiter.keys

    async def snapshot() -> tuple[Any, ...]:
        return (
            await client.hgetall(state),
            await client.zrange(leases, 0, -1, withscores=True),
            await client.hgetall(budget),
        )

    before = await snapshot()
    entered = False
    with pytest.raises(LimiterTimeout, match=r"next slot in 0\.\d+ s, beyond max_wait_s=0.05"):
        async with limiter.acquire(max_wait_s=0.05):
            entered = True
    assert not entered
    assert await snapshot() == before
    status = await limiter.status()
    assert 0 < status.next_slot_in_s <= 0.2


@pytest.mark.serial  # sub-second timing: alone on the machine
async def test_max_wait_zero_takes_a_free_slot_only(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(LimitPolicy(rate_per_s=50, burst=3, max_in_flight=3, max_wait_s=1))
    await take(limiter)
    with pytest.raises(LimiterTimeout):
        await take(limiter, max_wait_s=0)


# --- budgets -----------------------------------------------------------------------------------


async def test_a_spent_request_budget_refuses_at_once(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(LimitPolicy(rate_per_s=1000, burst=10, max_in_flight=10, daily_requests=3))
    for _ in range(3):
        await take(limiter)
    started = time.monotonic()
    with pytest.raises(BudgetExhausted, match=r"3 of 3 requests used today \(UTC\)"):
        await take(limiter)
    assert time.monotonic() - started < 0.5
    status = await limiter.status()
    assert (status.requests_today, status.requests_left, status.budget_exhausted) == (3, 0, True)
    assert not fits_budget(1, status)


async def test_a_job_can_ask_whether_it_can_afford_its_requests(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(LimitPolicy(rate_per_s=1000, burst=10, max_in_flight=10, daily_requests=10))
    for _ in range(3):
        await take(limiter)
    status = await limiter.status()
    assert fits_budget(7, status)
    assert not fits_budget(8, status)
    assert budget_refusals({"overpass": 8}, {"overpass": status}, max_calls_per_job=100) == [
        "the area needs 8 overpass calls but only 7 are left in today's budget"
    ]


async def test_without_a_budget_everything_is_affordable(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(LimitPolicy(rate_per_s=1000, burst=10))
    status = await limiter.status()
    assert fits_budget(10**9, status)
    assert (status.requests_left, status.bytes_left, status.budget_exhausted) == (None, None, False)


async def test_a_spent_byte_budget_refuses_further_requests(make_limiter: MakeLimiter) -> None:
    limiter = make_limiter(LimitPolicy(rate_per_s=1000, burst=10, max_in_flight=10, daily_bytes=1000))
    assert await limiter.record_bytes(600) == 600
    await take(limiter)
    assert await limiter.record_bytes(500) == 1100
    with pytest.raises(BudgetExhausted, match="bytes"):
        await take(limiter)
    status = await limiter.status()
    assert (status.bytes_today, status.bytes_left, status.budget_exhausted) == (1100, 0, True)
    assert not fits_budget(1, status)
    assert budget_refusals({"overpass": 1}, {"overpass": status}, max_calls_per_job=100) == [
        "the area needs 1 overpass calls but today's byte budget is spent"
    ]


# --- in-flight leases --------------------------------------------------------------------------


async def test_a_release_wakes_a_waiter_at_once(
    make_limiter: MakeLimiter, client: aioredis.Redis, other_client: aioredis.Redis
) -> None:
    policy = LimitPolicy(rate_per_s=100, burst=10, max_in_flight=1, max_wait_s=10, lease_ttl_s=30)
    holder, other = make_limiter(policy), make_limiter(policy, on=other_client)
    async with holder.acquire():
        waiter = asyncio.create_task(take(other))
        await asyncio.sleep(0.3)  # the upstream call
        assert not waiter.done()
        released_at = await server_us(client)
    grant = await waiter
    # Woken by the release, not by a poll or the 30 s lease expiry.
    assert 0 <= grant.slot_us - released_at < 100_000


async def test_a_long_call_keeps_its_lease(
    make_limiter: MakeLimiter, client: aioredis.Redis, other_client: aioredis.Redis
) -> None:
    policy = LimitPolicy(rate_per_s=100, burst=10, max_in_flight=1, max_wait_s=10, lease_ttl_s=0.3)
    holder, other = make_limiter(policy), make_limiter(policy, on=other_client)
    async with holder.acquire() as grant:
        waiter = asyncio.create_task(take(other))
        await asyncio.sleep(1.2)  # the upstream call: four lease lifetimes
        assert not waiter.done()
        assert (await holder.status()).in_flight == 1
        expiry = await client.zscore(limiter_leases(holder), grant.lease_id)
        ended_at = await server_us(client)
    assert expiry is not None
    assert expiry > ended_at  # renewed, not just granted long ago
    assert (await waiter).slot_us >= ended_at


async def test_a_lease_keeper_renewing_back_to_back_stops_every_time(make_limiter: MakeLimiter) -> None:
    """Most of these stops land while a renewal is being written, where Python 3.11's `wait_for`
    (under redis-py's socket timeout) swallowed the cancellation three times in four: the keeper
    renewed on and stop() never returned (`areafetch.background`)."""
    limiter = make_limiter(LimitPolicy(rate_per_s=100, burst=10, max_in_flight=1, max_wait_s=10))
    async with limiter.acquire() as grant:
        for _ in range(60):
            keeper = LeaseKeeper(
                functools.partial(limiter._extend, grant.lease_id), interval_s=0.0005, description="test"
            )
            keeper.start()
            await asyncio.sleep(random.uniform(0, 0.004))
            async with asyncio.timeout(5):
                await keeper.stop()
            assert not keeper.lost


def limiter_leases(limiter: Limiter) -> str:
    return limiter.keys[1]


@pytest.mark.reliability
async def test_a_dead_holder_s_lease_expires(
    make_limiter: MakeLimiter, client: aioredis.Redis, limiter_name: str
) -> None:
    policy = LimitPolicy(rate_per_s=100, burst=10, max_in_flight=1, max_wait_s=10, lease_ttl_s=1.0)
    ctx = multiprocessing.get_context("spawn")
    holding = ctx.Event()
    out: Any = ctx.Queue()
    proc = ctx.Process(
        target=_procs.hold_forever,
        args=(REDIS_URL, limiter_name, policy.model_dump(), holding, out),
        daemon=True,
    )
    proc.start()
    try:
        assert await asyncio.to_thread(holding.wait, 60), "the holder never got its lease"
        lease_id = await asyncio.to_thread(out.get, True, 10)
        proc.kill()
        await asyncio.to_thread(proc.join, 10)
        killed_at = await server_us(client)
        expiry = await client.zscore(limiter_leases(make_limiter(policy)), lease_id)
        assert expiry is not None
        grant = await take(make_limiter(policy))
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(10)
        out.close()
    assert grant.slot_us >= expiry  # not before the dead holder's lease ran out...
    assert grant.slot_us - expiry < 200_000  # ...and at once when it did
    assert grant.slot_us - killed_at <= 1_200_000


async def test_cancelling_a_sleeping_caller_gives_its_lease_back(
    make_limiter: MakeLimiter, monkeypatch: pytest.MonkeyPatch
) -> None:
    limiter = make_limiter(LimitPolicy(rate_per_s=2, burst=1, max_in_flight=3, max_wait_s=10))
    reserved = on_reservation(limiter, monkeypatch)
    task = asyncio.create_task(take(limiter))
    await sleeping_for_its_slot(reserved, task)
    assert (await limiter.status()).in_flight == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await limiter.status()).in_flight == 0


async def test_a_caller_that_wakes_late_moves_the_next_slot_one_interval_past_its_own(
    make_limiter: MakeLimiter,
) -> None:
    policy = LimitPolicy(rate_per_s=2, burst=1, max_in_flight=1, max_wait_s=10)
    limiter = make_limiter(policy)
    checks = 0

    async def stall_on_waking() -> None:  # the first check is before the reservation, the second on waking
        nonlocal checks
        checks += 1
        if checks == 2:
            await asyncio.sleep(0.4)

    with checked_before_each_call(stall_on_waking):
        late = await take(limiter)
    assert late.confirmed_us - late.slot_us >= 400_000
    after = await take(limiter)
    assert after.slot_us - late.confirmed_us >= policy.emission_interval_us


async def test_a_check_that_fails_on_waking_gives_the_lease_back_and_nothing_goes(
    make_limiter: MakeLimiter,
) -> None:
    limiter = make_limiter(LimitPolicy(rate_per_s=2, burst=1, max_in_flight=1, max_wait_s=10))
    checks = 0

    async def cancelled_while_sleeping() -> None:
        nonlocal checks
        checks += 1
        if checks == 2:
            raise LookupError("cancelled")

    with checked_before_each_call(cancelled_while_sleeping), pytest.raises(LookupError):
        await take(limiter)
    assert checks == 2
    assert (await limiter.status()).in_flight == 0


# --- pause -------------------------------------------------------------------------------------


async def test_a_pause_stops_a_caller_already_sleeping_for_its_slot(
    make_limiter: MakeLimiter, other_client: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = SLOW
    pauser, sleeper = make_limiter(policy), make_limiter(policy, on=other_client)
    await take(pauser)
    reserved = on_reservation(sleeper, monkeypatch)
    task = asyncio.create_task(take(sleeper))
    await sleeping_for_its_slot(reserved, task)
    paused_until = await pauser.pause(3.0)  # past its slot
    status = await pauser.status()
    assert status.paused_until == paused_until
    assert status.next_slot_at >= paused_until
    grant = await task
    assert grant.slot_us >= paused_until.timestamp() * 1e6
    # The bucket is empty when the pause ends: traffic resumes at the rate, without a burst.
    after = await take(pauser)
    assert after.slot_us - grant.slot_us >= policy.emission_interval_us


async def test_a_pause_longer_than_max_wait_times_out_and_reserves_nothing(
    make_limiter: MakeLimiter, other_client: aioredis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = SLOW
    pauser, sleeper = make_limiter(policy), make_limiter(policy, on=other_client)
    await take(pauser)
    reserved = on_reservation(sleeper, monkeypatch)
    task = asyncio.create_task(take(sleeper, max_wait_s=2))
    await sleeping_for_its_slot(reserved, task)
    await pauser.pause(5.0)
    with pytest.raises(LimiterTimeout, match="paused"):
        await task
    with pytest.raises(LimiterTimeout, match="beyond max_wait_s=2"):
        await take(pauser, max_wait_s=2)
    status = await pauser.status()
    assert status.in_flight == 0
    assert status.requests_today == 2  # the first grant, and the slot the pause took away


# --- lost state --------------------------------------------------------------------------------


async def test_lost_state_starts_with_an_empty_bucket(
    make_limiter: MakeLimiter, client: aioredis.Redis
) -> None:
    limiter = make_limiter(LimitPolicy(rate_per_s=10, burst=5, max_in_flight=5, max_wait_s=5))
    await take(limiter)
    await client.delete(*limiter.keys)
    lost_at = await server_us(client)
    status = await limiter.status()
    assert status.next_slot_in_s == pytest.approx(0.1, abs=1e-6)
    # Not `burst` requests at once, as a fresh full bucket would allow: one per interval.
    grants = [await take(limiter) for _ in range(3)]
    assert [grant.slot_us - lost_at >= (n + 1) * 100_000 for n, grant in enumerate(grants)] == [True] * 3


async def test_a_reservation_from_before_a_state_loss_is_not_honoured(
    make_limiter: MakeLimiter,
    client: aioredis.Redis,
    other_client: aioredis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    policy = SLOW
    first, sleeper = make_limiter(policy), make_limiter(policy, on=other_client)
    await take(first)
    reserved = on_reservation(sleeper, monkeypatch)
    task = asyncio.create_task(take(sleeper))
    await sleeping_for_its_slot(reserved, task)
    await client.delete(*first.keys)
    lost_at = await server_us(client)
    grant = await task
    assert grant.slot_us >= lost_at + policy.emission_interval_us


# --- Redis unreachable: fail closed ------------------------------------------------------------


async def test_unreachable_redis_raises_and_never_grants(limiter_name: str) -> None:
    client = dead_client()
    limiter = Limiter(client, limiter_name, LimitPolicy(rate_per_s=100, burst=100, max_in_flight=100))
    entered = False
    with pytest.raises(ServiceUnavailable, match="redis unavailable"):
        async with limiter.acquire():
            entered = True
    assert not entered
    with pytest.raises(ServiceUnavailable):
        await limiter.status()
    with pytest.raises(ServiceUnavailable):
        await limiter.pause(1)
    with pytest.raises(ServiceUnavailable):
        await limiter.record_bytes(1)
    await client.aclose()


async def test_unreachable_redis_with_retries_waits_and_never_grants(limiter_name: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = create_client(f"redis://127.0.0.1:{port}/0", socket_timeout_s=1)  # retries for about a minute
    limiter = Limiter(client, limiter_name, LimitPolicy(rate_per_s=100, burst=100, max_in_flight=100))
    entered = False

    async def enter() -> None:
        nonlocal entered
        async with limiter.acquire():
            entered = True

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(enter(), 1.0)
    assert not entered
    await client.aclose()


async def test_redis_lost_while_sleeping_for_a_slot_never_grants(
    make_limiter: MakeLimiter, limiter_name: str
) -> None:
    policy = LimitPolicy(rate_per_s=4, burst=1, max_in_flight=2, max_wait_s=5)
    await take(make_limiter(policy))  # the next slot is 0.25 s away
    proxy = CuttableProxy()
    port = await proxy.start()
    via_proxy = aioredis.Redis(
        host="127.0.0.1", port=port, socket_connect_timeout=0.5, socket_timeout=2, retry=Retry(NoBackoff(), 0)
    )
    limiter = Limiter(via_proxy, limiter_name, policy)
    entered = False

    async def enter() -> None:
        nonlocal entered
        async with limiter.acquire():
            entered = True

    task = asyncio.create_task(enter())
    try:
        await proxy.script_replied.wait()  # the slot is reserved; the caller sleeps for it
        await proxy.cut()
        with pytest.raises(ServiceUnavailable):
            await task
        assert not entered
        # Its lease could not be given back: it stays until it expires (fail closed).
        assert (await make_limiter(policy).status()).in_flight == 1
    finally:
        await proxy.cut()
        await via_proxy.aclose()


# --- keys, names, arguments --------------------------------------------------------------------


async def test_every_key_shares_one_hash_tag(
    make_limiter: MakeLimiter, client: aioredis.Redis, limiter_name: str
) -> None:
    policy = LimitPolicy(rate_per_s=100, burst=10, max_in_flight=1, daily_requests=100, daily_bytes=10**6)
    limiter = make_limiter(policy)
    await take(limiter)  # its release leaves an entry on the wake-up list
    await limiter.record_bytes(10)
    await limiter.pause(0.1)
    async with limiter.acquire():
        used = {key async for key in client.scan_iter(match=f"*{limiter_name}*")}
    tag = f"{{areafetch:limiter:{limiter_name}}}"
    assert used == set(limiter.keys)
    assert all(key.startswith(tag) for key in used)


async def test_works_on_a_client_without_decoded_responses(limiter_name: str) -> None:
    client = create_client(REDIS_URL, socket_timeout_s=10, decode_responses=False)
    limiter = Limiter(client, limiter_name, LimitPolicy(rate_per_s=50, burst=2, max_in_flight=1))
    try:
        await take(limiter)
        assert (await limiter.status()).requests_today == 1
    finally:
        await client.aclose()


async def test_bad_arguments_are_refused(make_limiter: MakeLimiter, client: aioredis.Redis) -> None:
    with pytest.raises(ValueError, match="limiter name"):
        Limiter(client, "bad{name}", LimitPolicy(rate_per_s=1))
    limiter = make_limiter(LimitPolicy(rate_per_s=1))
    with pytest.raises(ValueError, match="max_wait_s"):
        limiter.acquire(max_wait_s=-1)
    with pytest.raises(ValueError, match="seconds"):
        await limiter.pause(0)
    with pytest.raises(ValueError, match="n must be"):
        await limiter.record_bytes(-1)
