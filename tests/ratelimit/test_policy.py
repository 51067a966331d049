"""`LimitPolicy` validation, `policy_for`, and the pause helper."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from areafetch.config import Settings
from areafetch.ratelimit import LimitPolicy, pause_duration_s, policy_for


def test_policy_has_the_issue_s_shape() -> None:
    policy = LimitPolicy(rate_per_s=2.0, burst=1, max_in_flight=1, max_wait_s=120.0, daily_requests=None)
    assert policy.emission_interval_us == 500_000
    assert policy.daily_bytes is None


@pytest.mark.parametrize(
    "bad",
    [
        {"rate_per_s": 0},
        {"rate_per_s": -1},
        {"rate_per_s": 1, "burst": 0},
        {"rate_per_s": 1, "max_in_flight": 0},
        {"rate_per_s": 1, "max_wait_s": -1},
        {"rate_per_s": 1, "daily_requests": 0},
        {"rate_per_s": 1, "lease_ttl_s": 0},
        {"rate_per_s": 1, "unknown": 1},
    ],
)
def test_policy_refuses_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValidationError):
        LimitPolicy.model_validate(bad)


def test_policy_for_reads_each_upstream_s_settings() -> None:
    settings = Settings(
        overpass_rate_per_s=0.25,
        overpass_burst=2,
        overpass_max_in_flight=1,
        overpass_max_wait_s=300,
        overpass_daily_requests=5000,
        overpass_daily_bytes=10**9,
        google_places_rate_per_s=8,
        google_places_burst=4,
        google_places_max_in_flight=6,
        google_places_max_wait_s=30,
        google_places_daily_requests=None,
    )
    assert policy_for(settings, "overpass") == LimitPolicy(
        rate_per_s=0.25, burst=2, max_in_flight=1, max_wait_s=300, daily_requests=5000, daily_bytes=10**9
    )
    assert policy_for(settings, "google_places") == LimitPolicy(
        rate_per_s=8, burst=4, max_in_flight=6, max_wait_s=30, daily_requests=None
    )


def test_default_policies_are_safe() -> None:
    overpass = policy_for(Settings(), "overpass")
    assert overpass.max_in_flight == 1
    assert overpass.rate_per_s <= 1.0
    assert overpass.daily_requests is not None
    assert overpass.daily_requests <= 10_000
    # A fresh limiter starts with an empty bucket: the first slot must fit in max_wait.
    for upstream in ("overpass", "google_places"):
        policy = policy_for(Settings(), upstream)
        assert policy.max_wait_s * policy.rate_per_s > 1


@given(
    attempt=st.integers(1, 100),
    retry_after=st.one_of(st.none(), st.floats(0, 10_000)),
    minimum=st.floats(0, 120),
    seed=st.integers(0, 2**32),
)
def test_pause_duration_honours_every_floor(
    attempt: int, retry_after: float | None, minimum: float, seed: int
) -> None:
    pause = pause_duration_s(
        attempt=attempt, retry_after_s=retry_after, minimum_s=minimum, rng=random.Random(seed)
    )
    floor = max(retry_after or 0.0, minimum, min(900.0, 2.0 ** (attempt - 1)))
    assert floor <= pause <= floor * 1.2


def test_pause_duration_backs_off_exponentially_up_to_the_cap() -> None:
    pauses = [pause_duration_s(attempt=n, base_s=1, cap_s=60, jitter_ratio=0) for n in range(1, 10)]
    assert pauses == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert pause_duration_s(attempt=1, retry_after_s=120, minimum_s=30, jitter_ratio=0) == 120
    with pytest.raises(ValueError, match="attempt"):
        pause_duration_s(attempt=0)
