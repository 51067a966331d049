"""The Lua scripts compute exactly what `areafetch.ratelimit.gcra` computes, on the real Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from importlib import resources

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from areafetch.ratelimit import gcra
from areafetch.ratelimit._keys import LimiterKeys
from tests.helpers import REDIS_URL


def _lua(file_name: str) -> str:
    return resources.files("areafetch.ratelimit").joinpath("lua", file_name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def sync_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    client.close()


def _server_now_us(client: redis.Redis) -> int:
    seconds, micros = client.time()
    return seconds * 1_000_000 + micros


rates = st.one_of(st.sampled_from([0.5, 3.0, 20.0, 333.0]), st.floats(0.05, 50_000.0))
tat_offsets = st.one_of(st.none(), st.floats(-30, 30))  # in intervals from now; None = missing state


@settings(max_examples=60, deadline=None)
@given(
    rate=rates,
    burst=st.integers(1, 50),
    tat_offset=tat_offsets,
    max_wait_intervals=st.floats(0, 40),
)
def test_acquire_script_mirrors_reserve(
    sync_client: redis.Redis, rate: float, burst: int, tat_offset: float | None, max_wait_intervals: float
) -> None:
    keys = LimiterKeys.for_name(f"test-{uuid.uuid4().hex}")
    interval = gcra.emission_interval_us(rate)
    max_wait = int(max_wait_intervals * interval)
    acquire = sync_client.register_script(_lua("acquire-3.lua"))
    try:
        tat = None
        if tat_offset is not None:
            tat = _server_now_us(sync_client) + int(tat_offset * interval)
            sync_client.hset(keys.state, mapping={"tat": tat, "epoch": 1})
        reply = acquire(
            keys=[keys.state, keys.leases, keys.budget],
            args=["lease", interval, burst, max_wait, 1000, 30_000_000, 0, 0, 60],
        )
        code, wait_us, now_us = reply[0], reply[1], reply[2]
        expected = gcra.reserve(
            tat_us=tat, now_us=now_us, interval_us=interval, burst=burst, max_wait_us=max_wait
        )
        assert code == (0 if expected.granted else 2)
        assert wait_us == expected.wait_us
        assert int(sync_client.hget(keys.state, "tat") or -1) == expected.tat_us
        assert sync_client.zcard(keys.leases) == (1 if expected.granted else 0)
    finally:
        sync_client.delete(*keys.all())


@settings(max_examples=40, deadline=None)
@given(rate=rates, burst=st.integers(1, 50), tat_offset=tat_offsets, pause_intervals=st.floats(0.01, 100))
def test_pause_script_mirrors_pause(
    sync_client: redis.Redis, rate: float, burst: int, tat_offset: float | None, pause_intervals: float
) -> None:
    keys = LimiterKeys.for_name(f"test-{uuid.uuid4().hex}")
    interval = gcra.emission_interval_us(rate)
    pause_us = max(1, int(pause_intervals * interval))
    pause = sync_client.register_script(_lua("pause-1.lua"))
    try:
        tat = None
        if tat_offset is not None:
            tat = _server_now_us(sync_client) + int(tat_offset * interval)
            sync_client.hset(keys.state, mapping={"tat": tat, "epoch": 1})
        paused_until, now_us = pause(keys=[keys.state], args=[pause_us, interval, burst, 60])
        assert paused_until == now_us + pause_us
        expected = gcra.pause(
            tat_us=tat, now_us=now_us, paused_until_us=paused_until, interval_us=interval, burst=burst
        )
        assert int(sync_client.hget(keys.state, "tat") or -1) == expected
    finally:
        sync_client.delete(*keys.all())
