"""pytest fixtures for the fakes. Use them from any conftest.py:

from tests.fakes.fixtures import google_places_fake, helsinki_data, helsinki_pbf, overpass_fake

__all__ = ["google_places_fake", "helsinki_data", "helsinki_pbf", "overpass_fake"]
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.extract import OsmData, helsinki_extract, load_osm_data
from tests.fakes.google_places import GooglePlacesFake
from tests.fakes.overpass import OverpassFake

TESTS_PAUSE_AFTER_429_S = 2.0
"""areafetch's pause after a 429 in tests (`overpass_pause_min_s`; 30 s by default, the real penalty)."""

TESTS_PENALTY_S = TESTS_PAUSE_AFTER_429_S / 2
"""The fixture Overpass's penalty after a 429: over before the tests' client retries, as the real 30 s
penalty is over when areafetch's 30 s pause ends."""

TEST_USER_AGENT = "areafetch-tests/0.1 (+https://example.invalid/areafetch; tests@example.invalid)"


@pytest.fixture(scope="session")
def helsinki_pbf() -> Path:
    """The real Helsinki extract (fetched from the registry once, then cached)."""
    return helsinki_extract()


@pytest.fixture(scope="session")
def helsinki_data(helsinki_pbf: Path) -> OsmData:
    """Every tagged element of the Helsinki extract, loaded once per test process."""
    return load_osm_data(helsinki_pbf)


@pytest.fixture
def overpass_fake(helsinki_data: OsmData) -> Iterator[OverpassFake]:
    """A fake Overpass with the real server's defaults (2 slots, 2 queries/s, 60 s ban), but a penalty
    after a 429 of `TESTS_PENALTY_S` instead of 30 s. areafetch pauses 30 s after a 429 against the
    real server's 30 s penalty, and `TESTS_PAUSE_AFTER_429_S` in tests: with the real penalty, one
    stray 429 on a loaded test machine would ban the tests' client, which a deployment's does not get.
    A test of the ban sets `penalty_s` itself."""
    with OverpassFake.running(helsinki_data.path, penalty_s=TESTS_PENALTY_S) as fake:
        yield fake


@pytest.fixture
def google_places_fake(helsinki_data: OsmData) -> Iterator[GooglePlacesFake]:
    """A fake Places API (New) with key "test-google-api-key" and 600 calls per minute."""
    with GooglePlacesFake.running(helsinki_data.path) as fake:
        yield fake
