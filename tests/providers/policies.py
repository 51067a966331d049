"""The limits the provider tests run under: fast, and within what the fakes allow."""

from __future__ import annotations

from areafetch.ratelimit import LimitPolicy

# At or below the rate the Overpass tests give the fake (`OVERPASS_FAKE_RATE`), so a test never trips it.
OVERPASS_FAKE_RATE = {"rate_per_s": 10.0, "burst": 2}
OVERPASS_TEST_POLICY = LimitPolicy(rate_per_s=10.0, burst=2, max_in_flight=1, max_wait_s=10.0)
GOOGLE_TEST_POLICY = LimitPolicy(rate_per_s=20.0, burst=5, max_in_flight=4, max_wait_s=10.0)
