"""OverpassClient against the fake Overpass on the real Helsinki extract."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import httpx
import pytest
import shapely
from shapely.geometry import Polygon

from areafetch.areas import Place
from areafetch.areas.attributes import osm_attributes
from areafetch.areas.categories import CATEGORIES
from areafetch.errors import UpstreamError, UpstreamRejected, UpstreamThrottled
from areafetch.providers import OverpassClient, TileTooLarge
from areafetch.providers.overpass import AnswerIncomplete, build_query
from areafetch.ratelimit import Limiter, LimitPolicy
from tests.fakes.expected import expected_osm_places
from tests.fakes.extract import OsmData
from tests.fakes.fixtures import TEST_USER_AGENT
from tests.fakes.overpass import OverpassFake, OverpassFault
from tests.providers.policies import OVERPASS_FAKE_RATE, OVERPASS_TEST_POLICY

# A non-rectangular area over central Helsinki (lon, lat), inside the extract.
HELSINKI_RING: list[tuple[float, float]] = [
    (24.9365, 60.1655),
    (24.9490, 60.1642),
    (24.9525, 60.1705),
    (24.9470, 60.1778),
    (24.9380, 60.1750),
]
CATEGORY_NAMES = ("restaurant", "cafe", "bar", "bank", "pharmacy", "park", "school")
# From the taxonomy beyond the original ten: other keys (shop, tourism, highway, office, healthcare).
NEW_CATEGORY_NAMES = ("bakery", "hotel", "museum", "bus_stop", "hairdresser", "dentist", "clothes")
PAUSE_MIN_S = 0.5


def _filters(categories: tuple[str, ...]) -> list[str]:
    return [f"{key}={value}" for name in categories for key, value in CATEGORIES[name].osm_tags]


@pytest.fixture
def limiter(make_limiter: Callable[[LimitPolicy], Limiter]) -> Limiter:
    return make_limiter(OVERPASS_TEST_POLICY)


@pytest.fixture
def client(http: httpx.AsyncClient, limiter: Limiter, overpass_fake: OverpassFake) -> OverpassClient:
    overpass_fake.configure(**OVERPASS_FAKE_RATE)
    return OverpassClient(
        http,
        limiter,
        url=overpass_fake.interpreter_url,
        user_agent=TEST_USER_AGENT,
        timeout_s=10,
        maxsize_bytes=64 * 2**20,
        pause_min_s=PAUSE_MIN_S,
    )


def test_query_is_one_statement_per_key_with_lat_lon_poly() -> None:
    query = build_query(
        [(24.93651234567, 60.1655), (24.949, 60.1642), (24.95, 60.17), (24.93651234567, 60.1655)],
        ("cafe", "bar"),
        timeout_s=25,
        maxsize_bytes=1000,
    )
    poly = "60.1655 24.9365123 60.1642 24.949 60.17 24.95"
    assert query == (
        "[out:json][timeout:25][maxsize:1000];("
        f'nwr["amenity"~"^(cafe|bar|pub)$"](poly:"{poly}");'
        ");out tags center qt;"
    )
    park = build_query(Polygon([(0, 0), (1, 0), (1, 1)]), ("park",), timeout_s=1, maxsize_bytes=1)
    assert 'nwr["leisure"="park"](poly:' in park
    assert (
        build_query(Polygon([(0, 0), (1, 0), (1, 1)]), ("cafe",), timeout_s=1, maxsize_bytes=1).count("poly:")
        == 1
    )


@pytest.mark.parametrize("categories", [CATEGORY_NAMES, NEW_CATEGORY_NAMES])
async def test_fetch_returns_exactly_the_expected_places(
    client: OverpassClient, overpass_fake: OverpassFake, helsinki_data: OsmData, categories: tuple[str, ...]
) -> None:
    area = Polygon(HELSINKI_RING)
    places = await client.fetch(HELSINKI_RING, categories)

    assert all(isinstance(p, Place) and p.source == "overpass" for p in places)
    clipped = {p.source_id: p for p in places if area.covers(shapely.Point(p.lon, p.lat))}
    expected = {e.key: e for e in expected_osm_places(area, _filters(categories), data=helsinki_data)}
    assert expected
    assert set(clipped) == set(expected)
    kinds = {key.split("/")[0] for key in expected}
    assert {"node", "way"} <= kinds
    for key, element in expected.items():
        place = clipped[key]
        assert (place.lon, place.lat) == (element.lon, element.lat)
        assert place.name == element.tags.get("name")
        assert place.attributes == osm_attributes(element.tags)
        assert any(element.tags.get(k) == v for k, v in CATEGORIES[place.category].osm_tags)
    # Ways touching the polygon with their centre outside come back too: clipping is the caller's.
    assert len(places) >= len(clipped)

    (record,) = overpass_fake.requests
    assert record.status == 200
    assert record.user_agent == TEST_USER_AGENT
    assert overpass_fake.rejections() == []


async def test_a_shapely_polygon_is_accepted(client: OverpassClient) -> None:
    from_ring = await client.fetch(HELSINKI_RING, ("cafe",))
    from_polygon = await client.fetch(Polygon(HELSINKI_RING), ("cafe",))
    assert [p.source_id for p in from_ring] == [p.source_id for p in from_polygon]
    assert from_ring


async def test_429_pauses_the_shared_limiter_and_backs_off(
    client: OverpassClient, limiter: Limiter, overpass_fake: OverpassFake
) -> None:
    overpass_fake.configure(penalty_s=0)  # the test sends again after its (short) pause
    overpass_fake.inject(OverpassFault(kind="rate_limited", count=2))

    with pytest.raises(UpstreamThrottled) as first:
        await client.fetch(HELSINKI_RING, ("cafe",))
    status = await limiter.status()
    assert status.paused_until is not None
    assert (status.paused_until - status.server_time).total_seconds() > PAUSE_MIN_S * 0.8
    assert first.value.retry_after_s is not None
    assert first.value.retry_after_s >= PAUSE_MIN_S

    with pytest.raises(UpstreamThrottled) as second:
        await client.fetch(HELSINKI_RING, ("cafe",))  # waits out the pause, then 429 again
    assert second.value.retry_after_s is not None
    assert second.value.retry_after_s >= 2 * PAUSE_MIN_S  # doubled: two in a row

    assert await client.fetch(HELSINKI_RING, ("cafe",))  # after the second pause
    assert overpass_fake.statuses() == [429, 429, 200]


async def test_504_is_a_retryable_incomplete_answer(
    client: OverpassClient, limiter: Limiter, overpass_fake: OverpassFake
) -> None:
    overpass_fake.inject(OverpassFault(kind="busy"))
    with pytest.raises(UpstreamError) as caught:
        await client.fetch(HELSINKI_RING, ("cafe",))
    assert type(caught.value) is AnswerIncomplete  # retried; a second one in a row splits the cell
    assert "504" in str(caught.value)
    assert "too busy" in str(caught.value)
    assert (await limiter.status()).paused_until is None


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_is_a_retryable_upstream_error(
    client: OverpassClient, overpass_fake: OverpassFake, status: int
) -> None:
    overpass_fake.inject(OverpassFault(kind="http_error", status=status))
    with pytest.raises(UpstreamError) as caught:
        await client.fetch(HELSINKI_RING, ("cafe",))
    assert type(caught.value) is UpstreamError
    assert str(status) in str(caught.value)


@pytest.mark.parametrize("kind", ["remark_timeout", "remark_memory"])
async def test_runtime_error_remark_means_tile_too_large(
    client: OverpassClient, overpass_fake: OverpassFake, kind: str
) -> None:
    overpass_fake.inject(OverpassFault(kind=kind))
    result: list[Place] | None = None
    with pytest.raises(TileTooLarge) as caught:
        result = await client.fetch(HELSINKI_RING, CATEGORY_NAMES)
    assert result is None
    assert "runtime error" in str(caught.value)
    assert overpass_fake.requests[-1].elements  # the server did send partial data


async def test_too_many_elements_means_tile_too_large(
    client: OverpassClient, overpass_fake: OverpassFake
) -> None:
    overpass_fake.configure(max_elements=5, max_elements_remark="memory")
    with pytest.raises(TileTooLarge, match="out of memory"):
        await client.fetch(HELSINKI_RING, CATEGORY_NAMES)


@pytest.mark.parametrize("kind", ["truncated", "html_error", "disconnect"])
async def test_a_body_that_is_not_complete_json_is_an_error_not_data(
    client: OverpassClient, overpass_fake: OverpassFake, kind: str
) -> None:
    overpass_fake.inject(OverpassFault(kind=kind))
    with pytest.raises(UpstreamError) as caught:
        await client.fetch(HELSINKI_RING, CATEGORY_NAMES)
    assert not isinstance(caught.value, UpstreamRejected | UpstreamThrottled | TileTooLarge)
    assert "<" not in str(caught.value)
    # The next answer is whole again.
    assert await client.fetch(HELSINKI_RING, ("cafe",))


async def test_400_is_rejected_with_the_servers_message(
    client: OverpassClient, overpass_fake: OverpassFake
) -> None:
    overpass_fake.inject(OverpassFault(kind="http_error", status=400))
    with pytest.raises(UpstreamRejected) as caught:
        await client.fetch(HELSINKI_RING, ("cafe",))
    message = str(caught.value)
    assert "400" in message
    assert "the fake server answers 400 as told" in message
    assert "<" not in message


async def test_a_library_user_agent_gets_406_rejected(
    http: httpx.AsyncClient, limiter: Limiter, overpass_fake: OverpassFake
) -> None:
    client = OverpassClient(
        http,
        limiter,
        url=overpass_fake.interpreter_url,
        user_agent=f"python-httpx/{httpx.__version__}",
        timeout_s=10,
        maxsize_bytes=2**20,
    )
    with pytest.raises(UpstreamRejected) as caught:
        await client.fetch(HELSINKI_RING, ("cafe",))
    assert "406" in str(caught.value)
    assert "User-Agent" in str(caught.value)


async def test_a_ban_is_rejected(client: OverpassClient, overpass_fake: OverpassFake) -> None:
    overpass_fake.inject(OverpassFault(kind="rate_limited"))
    overpass_fake.configure(penalty_s=60)
    with pytest.raises(UpstreamThrottled):
        await client.fetch(HELSINKI_RING, ("cafe",))
    with pytest.raises(UpstreamRejected, match="403"):
        await client.fetch(HELSINKI_RING, ("cafe",))  # within the penalty: banned


async def test_bytes_are_counted_on_the_limiter(client: OverpassClient, limiter: Limiter) -> None:
    await client.fetch(HELSINKI_RING, ("cafe",))
    assert (await limiter.status()).bytes_today > 100


def mocked_client(http: httpx.AsyncClient, limiter: Limiter) -> OverpassClient:
    """A client of an Overpass that the `http` client's mock transport answers."""
    return OverpassClient(
        http,
        limiter,
        url="https://overpass.example.invalid/api/interpreter",
        user_agent=TEST_USER_AGENT,
        timeout_s=5,
        maxsize_bytes=2**20,
        pause_min_s=PAUSE_MIN_S,
    )


async def test_429_honours_a_longer_retry_after(limiter: Limiter) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["user-agent"] == TEST_USER_AGENT
        assert request.url.path == "/api/interpreter"
        return httpx.Response(429, headers={"Retry-After": "3"}, text="<p>rate_limited</p>")

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        client = mocked_client(http, limiter)
        with pytest.raises(UpstreamThrottled) as caught:
            await client.fetch(HELSINKI_RING, ("cafe",))
    assert caught.value.retry_after_s is not None
    assert caught.value.retry_after_s >= 3.0
    status = await limiter.status()
    assert status.paused_until is not None
    assert (status.paused_until - status.server_time).total_seconds() > 2.5


async def test_a_429_pauses_the_limiter_before_the_lease_is_given_back(
    limiter: Limiter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Else another worker, woken by the release, may send its call between the 429 and the pause,
    within the server's penalty time, and be banned (seen in a soak with slow answers)."""
    in_flight_at_pause: list[int] = []
    pause = limiter.pause

    async def watched_pause(seconds: float) -> None:
        in_flight_at_pause.append((await limiter.status()).in_flight)
        await pause(seconds)

    monkeypatch.setattr(limiter, "pause", watched_pause)
    transport = httpx.MockTransport(lambda request: httpx.Response(429, text="<p>rate_limited</p>"))
    async with httpx.AsyncClient(transport=transport) as http:
        client = mocked_client(http, limiter)
        with pytest.raises(UpstreamThrottled):
            await client.fetch(HELSINKI_RING, ("cafe",))
    assert in_flight_at_pause == [1]
    assert (await limiter.status()).in_flight == 0


async def test_a_way_without_a_centre_is_skipped(limiter: Limiter) -> None:
    elements = [
        {"type": "node", "id": 1, "lat": 60.17, "lon": 24.94, "tags": {"amenity": "cafe", "name": "A"}},
        {"type": "way", "id": 2, "tags": {"amenity": "cafe"}},
        {"type": "way", "id": 3, "center": {"lat": 60.171, "lon": 24.941}, "tags": {"amenity": "pub"}},
    ]

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"version": 0.6, "elements": elements})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        client = mocked_client(http, limiter)
        places = await client.fetch(HELSINKI_RING, ("cafe", "bar"))
    assert [(p.source_id, p.category, p.name, p.lon, p.lat) for p in places] == [
        ("node/1", "cafe", "A", 24.94, 60.17),
        ("way/3", "bar", None, 24.941, 60.171),
    ]


def test_values_of_one_key_become_one_anchored_regex_matching_exactly_them() -> None:
    from areafetch.providers.overpass import _tag_filter

    text = _tag_filter("k", ["a.b", "c|d", "e(f)"])
    pattern = json.loads(text.split("~", 1)[1])  # the QL string is JSON-compatible
    assert [bool(re.fullmatch(pattern, v)) for v in ("a.b", "c|d", "e(f)", "axb", "c", "a.bc")] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]
