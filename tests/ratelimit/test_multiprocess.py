"""The limiter shared by OS processes on the real Redis: the issue's hammer, a pause, skewed
clocks, and the limiter's keys deleted mid-run.

Every grant is recorded as Redis handed it out (slot and confirmation, server time) and as the
caller lived it (Redis TIME read at the start and end of its call). The bound is checked on the
slots over every sliding window; the calls must never start before their slot.
"""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from areafetch.ratelimit._keys import LimiterKeys
from tests.helpers import REDIS_URL
from tests.ratelimit._analysis import US_PER_S
from tests.ratelimit._procs import HammerSpec, check_bound, grants_of, run_processes, server_us
from tests.ratelimit.keys import delete_limiter_keys

RATE, BURST, IN_FLIGHT = 20.0, 5, 3
POLICY = {"rate_per_s": RATE, "burst": BURST, "max_in_flight": IN_FLIGHT, "max_wait_s": 30.0}
INTERVAL_US = round(US_PER_S / RATE)

# Hammers measure utilisation and timing with 4-8 processes: alone on the machine (`make pytest-load`).
pytestmark = [pytest.mark.timeout(180), pytest.mark.load]


def test_eight_processes_hammering_obey_the_bound_and_use_the_rate() -> None:
    name = f"test-{uuid.uuid4().hex}"
    duration_s = 10.0
    # Mostly short calls, and a share of calls longer than three intervals: those fill every
    # in-flight lease now and then, so the semaphore, not the rate alone, must keep it at 3.
    specs = [
        HammerSpec(REDIS_URL, name, POLICY, duration_s, call_max_s=0.05, long_call_share=0.2, seed=i)
        for i in range(8)
    ]
    try:
        results, start_us, _ = run_processes(specs)
    finally:
        delete_limiter_keys(name)
    figures = check_bound(results, burst=BURST, rate_per_s=RATE)
    grants = grants_of(results)
    assert figures["max_calls_in_flight"] == IN_FLIGHT  # reached, never exceeded
    in_run = [slot for slot, _, _, _ in grants if start_us <= slot <= start_us + duration_s * US_PER_S]
    allowed = BURST + RATE * duration_s
    utilisation = len(in_run) / allowed
    print(f"\nhammer: utilisation {utilisation:.3f} ({len(in_run)} of {allowed:g} allowed); {figures}")
    assert utilisation >= 0.95
    assert sum(result.timeouts for result in results) == 0


def test_a_pause_by_one_process_stops_every_process() -> None:
    name = f"test-{uuid.uuid4().hex}"
    pause_s = 2.0
    specs = [
        HammerSpec(
            REDIS_URL,
            name,
            POLICY,
            6.0,
            call_max_s=0.05,
            seed=i,
            # Once every process has been granted (the lease handoff is not FIFO: a process that
            # releases and asks again may take the lease before a woken waiter, so one process
            # can wait seconds for its first call on a busy machine).
            pause_after_s=1.0 if i == 0 else None,
            pause_once_granted=4,
            pause_s=pause_s,
        )
        for i in range(4)
    ]
    try:
        results, _, _ = run_processes(specs)
    finally:
        delete_limiter_keys(name)
    figures = check_bound(results, burst=BURST, rate_per_s=RATE)
    assert figures["max_calls_in_flight"] <= IN_FLIGHT
    assert results[0].pause is not None
    set_us, until_us = results[0].pause
    grants = grants_of(results)
    assert not [g for g in grants if set_us < g[1] < until_us], "granted during the pause"
    assert not [g for g in grants if set_us < g[0] < until_us], "a slot inside the pause"
    for result in results:  # every process was running before the pause and after it
        slots = sorted(slot for slot, _, _, _ in result.grants)
        context = f"process {result.index}: {len(slots)} grants, first {(slots or [0])[0] - set_us} us from the pause"
        assert any(slot < set_us for slot in slots), context
        assert any(slot >= until_us for slot in slots), context
    resumed_us = min(slot for slot, _, _, _ in grants if slot >= until_us)
    assert resumed_us - until_us < 4 * INTERVAL_US
    print(f"\npause: resumed {(resumed_us - until_us) / 1000:.1f} ms after its end; {figures}")


def test_processes_with_skewed_clocks_obey_the_bound() -> None:
    name = f"test-{uuid.uuid4().hex}"
    offsets = [-2.0, 2.0, -2.0, 2.0]
    specs = [
        HammerSpec(REDIS_URL, name, POLICY, 4.0, call_max_s=0.1, seed=i, clock_offset_s=offset)
        for i, offset in enumerate(offsets)
    ]
    try:
        results, _, _ = run_processes(specs)
    finally:
        delete_limiter_keys(name)
    for result, offset in zip(results, offsets, strict=True):
        assert result.measured_clock_offset_s == pytest.approx(offset, abs=0.5)
    figures = check_bound(results, burst=BURST, rate_per_s=RATE)
    assert figures["max_calls_in_flight"] <= IN_FLIGHT
    slots = [slot for slot, _, _, _ in grants_of(results)]
    steady_rate = (len(slots) - 1) / ((slots[-1] - slots[0]) / US_PER_S)
    print(f"\nskew: steady rate {steady_rate:.2f}/s of {RATE:g}; {figures}")
    assert steady_rate >= 0.95 * RATE


@pytest.mark.reliability
def test_deleting_the_keys_mid_run_does_not_break_the_bound() -> None:
    name = f"test-{uuid.uuid4().hex}"
    keys = LimiterKeys.for_name(name).all()

    def lose_state(client: redis.Redis) -> tuple[int, int]:
        time.sleep(2.5)  # let the processes saturate the limiter first
        before = server_us(client)
        client.delete(*keys)
        return before, server_us(client)

    specs = [HammerSpec(REDIS_URL, name, POLICY, 5.0, call_max_s=0.05, seed=i) for i in range(4)]
    try:
        results, _, lost = run_processes(specs, during=lose_state)
    finally:
        delete_limiter_keys(name)
    assert lost is not None
    lost_before, lost_after = lost
    figures = check_bound(results, burst=BURST, rate_per_s=RATE)
    slots = [slot for slot, _, _, _ in grants_of(results)]
    # Reservations made before the loss are void; the new bucket starts empty.
    assert not [slot for slot in slots if lost_after < slot < lost_before + INTERVAL_US]
    assert len([slot for slot in slots if slot > lost_after]) >= 0.9 * RATE * 2
    # Calls already running when their leases vanished still run: in flight may briefly reach
    # twice the limit, never more.
    assert figures["max_calls_in_flight"] <= 2 * IN_FLIGHT
    print(f"\nlost state: {figures}")
