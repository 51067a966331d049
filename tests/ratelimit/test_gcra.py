"""Property tests of the GCRA arithmetic against a simulated clock (no Redis).

The simulation runs the protocol the Lua scripts implement: a reservation is confirmed when its
slot comes, unless a pause is in force then or the state was lost meanwhile (new epoch).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from areafetch.ratelimit import gcra
from tests.ratelimit._analysis import US_PER_S, bound_excess


@dataclass
class Request:
    max_wait_us: int


@dataclass
class Pause:
    duration_us: int


@dataclass
class LoseState:
    pass


Action = Request | Pause | LoseState


@dataclass
class Simulation:
    interval_us: int
    burst: int
    now_us: int = 0
    tat_us: int | None = None
    paused_until_us: int = 0
    pending: list[int] = field(default_factory=list)
    grants: list[int] = field(default_factory=list)
    refused: int = 0
    pauses: list[tuple[int, int]] = field(default_factory=list)

    def advance(self, dt_us: int) -> None:
        """Move the clock; confirm (or cancel) every reservation whose slot comes meanwhile."""
        self.now_us += dt_us
        due = sorted(slot for slot in self.pending if slot <= self.now_us)
        self.pending = [slot for slot in self.pending if slot > self.now_us]
        for slot in due:
            if self.paused_until_us > slot:
                continue  # confirm-3.lua: paused, the caller starts over after the pause
            self.grants.append(slot)

    def act(self, action: Action) -> None:
        if isinstance(action, Request):
            decision = gcra.reserve(
                tat_us=self.tat_us,
                now_us=self.now_us,
                interval_us=self.interval_us,
                burst=self.burst,
                max_wait_us=action.max_wait_us,
            )
            self.tat_us = decision.tat_us
            if not decision.granted:
                self.refused += 1
            elif decision.wait_us == 0:
                self.grants.append(self.now_us)
            else:
                self.pending.append(self.now_us + decision.wait_us)
        elif isinstance(action, Pause):
            self.paused_until_us = max(self.paused_until_us, self.now_us + action.duration_us)
            self.tat_us = gcra.pause(
                tat_us=self.tat_us,
                now_us=self.now_us,
                paused_until_us=self.paused_until_us,
                interval_us=self.interval_us,
                burst=self.burst,
            )
            self.pauses.append((self.now_us, self.paused_until_us))
        else:
            # Keys evicted or Redis restarted empty: TAT, pause and epoch are gone, so every
            # sleeping reservation fails its epoch check when it wakes.
            # A pause in force is lost with it (documented): it ends here.
            self.tat_us = None
            self.paused_until_us = 0
            self.pending.clear()
            self.pauses = [(set_at, min(until, self.now_us)) for set_at, until in self.pauses]


rates = st.one_of(st.sampled_from([0.5, 1.0, 2.0, 3.0, 7.0, 20.0, 1000.0]), st.floats(0.05, 5000.0))
bursts = st.integers(1, 12)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[float, int, list[tuple[int, Action]]]:
    rate = draw(rates)
    burst = draw(bursts)
    interval = gcra.emission_interval_us(rate)
    gap = st.one_of(st.just(0), st.integers(0, interval // 4), st.integers(0, 3 * interval))
    request: st.SearchStrategy[Action] = st.builds(
        Request, max_wait_us=st.one_of(st.integers(0, 20 * interval), st.just(10**15))
    )
    pause: st.SearchStrategy[Action] = st.builds(Pause, duration_us=st.integers(1, 5 * interval))
    lose: st.SearchStrategy[Action] = st.just(LoseState())

    def pick(roll: int) -> st.SearchStrategy[Action]:
        # Mostly requests, now and then a pause or a loss of the whole state.
        return pause if roll == 0 else lose if roll == 1 else request

    action = st.integers(0, 19).flatmap(pick)
    steps = draw(st.lists(st.tuples(gap, action), min_size=1, max_size=120))
    return rate, burst, steps


def run(rate: float, burst: int, steps: list[tuple[int, Action]]) -> Simulation:
    sim = Simulation(
        interval_us=gcra.emission_interval_us(rate), burst=burst, now_us=1_700_000_000 * US_PER_S
    )
    for dt_us, action in steps:
        sim.advance(dt_us)
        sim.act(action)
    sim.advance(10**13)  # every remaining reservation comes due
    return sim


@settings(max_examples=250, deadline=None)
@given(scenarios())
def test_every_window_obeys_the_bound(scenario: tuple[float, int, list[tuple[int, Action]]]) -> None:
    rate, burst, steps = scenario
    sim = run(rate, burst, steps)
    assert bound_excess(sim.grants, burst=burst, rate_per_s=rate) <= 1e-9


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_nothing_is_granted_during_a_pause(scenario: tuple[float, int, list[tuple[int, Action]]]) -> None:
    rate, burst, steps = scenario
    sim = run(rate, burst, steps)
    for set_at, until in sim.pauses:
        assert not [slot for slot in sim.grants if set_at < slot < until]


@settings(max_examples=200, deadline=None)
@given(rate=rates, burst=bursts, callers=st.integers(1, 8), horizon_intervals=st.integers(1, 300))
def test_saturated_callers_get_every_slot(
    rate: float, burst: int, callers: int, horizon_intervals: int
) -> None:
    """Callers that ask again the moment they are served use the full rate (utilisation 1)."""
    interval = gcra.emission_interval_us(rate)
    start = 1_700_000_000 * US_PER_S
    horizon = start + horizon_intervals * interval
    tat: int | None = None
    next_request = [start] * callers
    grants: list[int] = []
    while min(next_request) <= horizon:
        caller = next_request.index(min(next_request))
        decision = gcra.reserve(
            tat_us=tat, now_us=next_request[caller], interval_us=interval, burst=burst, max_wait_us=10**15
        )
        tat = decision.tat_us
        slot = next_request[caller] + decision.wait_us
        grants.append(slot)
        next_request[caller] = slot
    served = [slot for slot in grants if slot <= horizon]
    # Missing state starts as an empty bucket: one slot per interval from the first interval on.
    assert len(served) == horizon_intervals
    assert bound_excess(grants, burst=burst, rate_per_s=rate) <= 1e-9


@settings(max_examples=300, deadline=None)
@given(
    rate=rates,
    burst=bursts,
    tat_offset_intervals=st.floats(-50, 50),
    max_wait_intervals=st.floats(0, 20),
)
def test_a_refusal_reserves_nothing(
    rate: float, burst: int, tat_offset_intervals: float, max_wait_intervals: float
) -> None:
    interval = gcra.emission_interval_us(rate)
    now = 1_700_000_000 * US_PER_S
    tat = now + int(tat_offset_intervals * interval)
    max_wait = int(max_wait_intervals * interval)
    decision = gcra.reserve(tat_us=tat, now_us=now, interval_us=interval, burst=burst, max_wait_us=max_wait)
    expected_wait = max(0, tat - (burst - 1) * interval - now)
    assert decision.wait_us == expected_wait
    if decision.granted:
        assert decision.wait_us <= max_wait
        assert decision.tat_us == max(tat, now) + interval
    else:
        assert decision.wait_us > max_wait
        assert decision.tat_us == tat


def test_missing_state_is_an_empty_bucket() -> None:
    decision = gcra.reserve(tat_us=None, now_us=10**12, interval_us=50_000, burst=5, max_wait_us=10**9)
    assert decision.granted
    assert decision.wait_us == 50_000
    assert decision.tat_us == 10**12 + 6 * 50_000


def test_a_pause_leaves_the_bucket_empty_at_its_end() -> None:
    now, interval, burst = 10**12, 50_000, 5
    tat = gcra.pause(
        tat_us=now, now_us=now, paused_until_us=now + 2 * US_PER_S, interval_us=interval, burst=burst
    )
    first = gcra.reserve(tat_us=tat, now_us=now, interval_us=interval, burst=burst, max_wait_us=10**9)
    assert first.wait_us == 2 * US_PER_S
    second = gcra.reserve(
        tat_us=first.tat_us, now_us=now, interval_us=interval, burst=burst, max_wait_us=10**9
    )
    assert second.wait_us == 2 * US_PER_S + interval


@pytest.mark.parametrize(("rate", "interval"), [(20.0, 50_000), (3.0, 333_334), (0.5, 2_000_000), (1e6, 1)])
def test_the_interval_is_rounded_up(rate: float, interval: int) -> None:
    assert gcra.emission_interval_us(rate) == interval
