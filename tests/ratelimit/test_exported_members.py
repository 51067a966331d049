"""The package's public names are exactly what it declares (as httpx tests its own)."""

from __future__ import annotations

import areafetch.ratelimit as ratelimit


def test_all_names_are_exported_and_documented() -> None:
    assert sorted(ratelimit.__all__) == sorted(
        [
            "Grant",
            "LimitPolicy",
            "Limiter",
            "LimiterStatus",
            "checked_before_each_call",
            "pause_duration_s",
            "policy_for",
        ]
    )
    for name in ratelimit.__all__:
        member = getattr(ratelimit, name)
        assert member.__doc__, name
        assert member.__module__.startswith("areafetch.ratelimit."), name


def test_public_names_are_not_private() -> None:
    public = {name for name in vars(ratelimit) if not name.startswith("_")}
    assert set(ratelimit.__all__) <= public
