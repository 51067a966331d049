"""The Overpass instance pool against two fake Overpass servers: soonest first, failover, set aside, probe."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import httpx
import pytest

from areafetch.errors import UpstreamError, UpstreamThrottled
from areafetch.providers import OverpassClient, TileTooLarge
from areafetch.providers.overpass_pool import OverpassPool
from areafetch.ratelimit import Limiter, LimitPolicy
from tests.fakes.extract import OsmData
from tests.fakes.fixtures import TEST_USER_AGENT
from tests.fakes.overpass import OverpassFake, OverpassFault
from tests.helpers import eventually
from tests.providers.policies import OVERPASS_FAKE_RATE, OVERPASS_TEST_POLICY
from tests.providers.test_overpass import HELSINKI_RING

CATEGORIES = ("cafe",)


@pytest.fixture
def second_fake(helsinki_data: OsmData) -> Iterator[OverpassFake]:
    rate, burst = OVERPASS_FAKE_RATE["rate_per_s"], int(OVERPASS_FAKE_RATE["burst"])
    with OverpassFake.running(helsinki_data.path, rate_per_s=rate, burst=burst) as fake:
        yield fake


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _client(http: httpx.AsyncClient, limiter: Limiter, url: str) -> OverpassClient:
    return OverpassClient(
        http, limiter, url=url, user_agent=TEST_USER_AGENT, timeout_s=5, maxsize_bytes=2**26, pause_min_s=0.5
    )


def _pool(
    http: httpx.AsyncClient, make_limiter: Callable[[LimitPolicy], Limiter], urls: list[str], clock: Clock
) -> OverpassPool:
    clients = [_client(http, make_limiter(OVERPASS_TEST_POLICY), url) for url in urls]
    return OverpassPool(clients, set_aside_after=3, probe_after_s=60.0, clock=clock)


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/interpreter"  # nobody listens there now


def _queries(fake: OverpassFake) -> list[int]:
    return [r.status for r in fake.requests if r.path == "/api/interpreter"]


async def test_a_504_moves_the_call_to_the_next_endpoint_and_the_next_calls_too(
    http: httpx.AsyncClient,
    make_limiter: Callable[[LimitPolicy], Limiter],
    overpass_fake: OverpassFake,
    second_fake: OverpassFake,
) -> None:
    # Limiters that always have a slot, so the order is the configured one (the fakes do not limit).
    overpass_fake.configure(rate_per_s=None)
    second_fake.configure(rate_per_s=None)
    clock = Clock()
    fast = LimitPolicy(rate_per_s=1000.0, burst=100, max_in_flight=1, max_wait_s=10.0)
    clients = [
        _client(http, make_limiter(fast), url)
        for url in (overpass_fake.interpreter_url, second_fake.interpreter_url)
    ]
    pool = OverpassPool(clients, set_aside_after=3, probe_after_s=1.5, clock=clock)
    overpass_fake.inject(OverpassFault(kind="busy", count=3))

    for _ in range(3):
        assert await pool.fetch(HELSINKI_RING, CATEGORIES)  # each answered by the second endpoint
    assert _queries(overpass_fake) == [504, 504, 504]
    assert _queries(second_fake) == [200, 200, 200]
    assert pool.set_aside() == [overpass_fake.interpreter_url]  # three in a row: set aside ...
    # ... for every process: its limiter is paused in Redis as long, so their pools order it last
    assert (await clients[0].limiter.status()).paused_until is not None
    other_process = OverpassPool(clients, set_aside_after=3, probe_after_s=1.5)
    await other_process.fetch(HELSINKI_RING, CATEGORIES)

    await pool.fetch(HELSINKI_RING, CATEGORIES)
    assert len(_queries(overpass_fake)) == 3  # ... and not asked while set aside
    clock.now += 1.6  # its probe is due: the next real query is the probe

    async def pause_over() -> bool:
        return (await clients[0].limiter.status()).paused_until is None

    await eventually(pause_over, timeout_s=10, what="the shared pause to end")
    await pool.fetch(HELSINKI_RING, CATEGORIES)
    assert _queries(overpass_fake) == [504, 504, 504, 200]
    assert pool.set_aside() == []
    # never a status poll: the pool orders endpoints by their limiters' shared state in Redis
    assert all(r.path == "/api/interpreter" for r in overpass_fake.requests + second_fake.requests)


async def test_connection_errors_fail_over_and_all_down_names_every_endpoint(
    http: httpx.AsyncClient,
    make_limiter: Callable[[LimitPolicy], Limiter],
    overpass_fake: OverpassFake,
) -> None:
    overpass_fake.configure(**OVERPASS_FAKE_RATE)
    dead = _closed_port_url()
    pool = _pool(http, make_limiter, [dead, overpass_fake.interpreter_url], Clock())
    assert await pool.fetch(HELSINKI_RING, CATEGORIES)

    overpass_fake.inject(OverpassFault(kind="busy"))
    with pytest.raises(UpstreamError) as caught:
        await pool.fetch(HELSINKI_RING, CATEGORIES)
    message = str(caught.value)
    assert not isinstance(caught.value, UpstreamThrottled)
    assert dead in message
    assert overpass_fake.interpreter_url in message
    assert "every Overpass endpoint failed (2 tried)" in message


async def test_a_remark_is_about_the_cell_not_the_endpoint(
    http: httpx.AsyncClient,
    make_limiter: Callable[[LimitPolicy], Limiter],
    overpass_fake: OverpassFake,
    second_fake: OverpassFake,
) -> None:
    overpass_fake.configure(**OVERPASS_FAKE_RATE)
    pool = _pool(http, make_limiter, [overpass_fake.interpreter_url, second_fake.interpreter_url], Clock())
    overpass_fake.inject(OverpassFault(kind="remark_memory"))
    with pytest.raises(TileTooLarge):
        await pool.fetch(HELSINKI_RING, CATEGORIES)
    assert _queries(second_fake) == []


async def test_the_soonest_serving_endpoint_is_asked_first(
    http: httpx.AsyncClient,
    make_limiter: Callable[[LimitPolicy], Limiter],
    overpass_fake: OverpassFake,
    second_fake: OverpassFake,
) -> None:
    overpass_fake.configure(**OVERPASS_FAKE_RATE)
    pool = _pool(http, make_limiter, [overpass_fake.interpreter_url, second_fake.interpreter_url], Clock())
    first_limiter = pool._endpoints[0].client.limiter
    await first_limiter.pause(5.0)  # e.g. after a 429 another worker drew from it
    await pool.fetch(HELSINKI_RING, CATEGORIES)
    assert _queries(overpass_fake) == []
    assert _queries(second_fake) == [200]


async def test_every_endpoint_throttled_is_a_throttle_naming_each(
    http: httpx.AsyncClient,
    make_limiter: Callable[[LimitPolicy], Limiter],
    overpass_fake: OverpassFake,
    second_fake: OverpassFake,
) -> None:
    overpass_fake.configure(**OVERPASS_FAKE_RATE)
    pool = _pool(http, make_limiter, [overpass_fake.interpreter_url, second_fake.interpreter_url], Clock())
    overpass_fake.inject(OverpassFault(kind="rate_limited"))
    second_fake.inject(OverpassFault(kind="rate_limited"))
    with pytest.raises(UpstreamThrottled) as caught:
        await pool.fetch(HELSINKI_RING, CATEGORIES)
    assert overpass_fake.interpreter_url in str(caught.value)
    assert second_fake.interpreter_url in str(caught.value)
    for endpoint in pool._endpoints:  # each endpoint's own limiter took the shared pause
        assert (await endpoint.client.limiter.status()).paused_until is not None
    assert _queries(overpass_fake) == [429]
    assert _queries(second_fake) == [429]
