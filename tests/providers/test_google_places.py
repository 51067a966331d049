"""GooglePlacesClient against the fake Places API (New) on the real Helsinki extract."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr

from areafetch.errors import UpstreamError, UpstreamRejected, UpstreamThrottled
from areafetch.providers import GooglePlacesClient, NearbyResult
from areafetch.providers.google_places import FIELD_MASK, FIELD_MASKS
from areafetch.ratelimit import Limiter, LimitPolicy
from tests.fakes.expected import expected_google_places, expected_nearby
from tests.fakes.extract import OsmData
from tests.fakes.google_places import GooglePlacesFake, GooglePlacesFault, haversine_m
from tests.providers.policies import GOOGLE_TEST_POLICY

CENTRE = (24.9445, 60.1695)  # lon, lat: central Helsinki
FOOD = ("restaurant", "cafe", "bar")
PAUSE_MIN_S = 0.3


@pytest.fixture
def limiter(make_limiter: Callable[[LimitPolicy], Limiter]) -> Limiter:
    return make_limiter(GOOGLE_TEST_POLICY)


def _client(
    http: httpx.AsyncClient, limiter: Limiter, fake: GooglePlacesFake, key: str
) -> GooglePlacesClient:
    return GooglePlacesClient(
        http, limiter, base_url=fake.url, api_key=SecretStr(key), timeout_s=10, pause_min_s=PAUSE_MIN_S
    )


@pytest.fixture
def client(
    http: httpx.AsyncClient, limiter: Limiter, google_places_fake: GooglePlacesFake
) -> GooglePlacesClient:
    return _client(http, limiter, google_places_fake, google_places_fake.api_key)


async def test_places_in_a_small_circle_are_all_found(
    client: GooglePlacesClient, google_places_fake: GooglePlacesFake, helsinki_data: OsmData
) -> None:
    lon, lat = CENTRE
    radius_m = 80.0
    result = await client.search_nearby(lon, lat, radius_m, FOOD)

    assert isinstance(result, NearbyResult)
    wanted_types = ("restaurant", "cafe", "bar")
    in_circle = [
        place
        for place in expected_google_places(helsinki_data.bounds, wanted_types, data=helsinki_data)
        if haversine_m(lat, lon, place.lat, place.lon) <= radius_m
    ]
    assert 0 < len(in_circle) < 20
    assert not result.capped
    assert {p.source_id for p in result.places} == {p.id for p in in_circle}
    by_id = {p.id: p for p in in_circle}
    for place in result.places:
        fake = by_id[place.source_id]
        assert place.source == "google_places"
        assert (place.lon, place.lat, place.name) == (fake.lon, fake.lat, fake.name)
        assert place.category in FOOD
        assert place.attributes["primaryType"] == fake.primary_type
    # Nearest first, as asked (rankPreference DISTANCE).
    assert [p.source_id for p in result.places] == [
        p.id for p in expected_nearby(lat, lon, radius_m, wanted_types, data=helsinki_data)
    ]

    (record,) = google_places_fake.requests
    assert record.status == 200
    assert record.detail["max_result_count"] == 20
    assert record.detail["included_types"] == sorted(wanted_types)


async def test_a_full_answer_is_flagged_capped(client: GooglePlacesClient, helsinki_data: OsmData) -> None:
    lon, lat = CENTRE
    result = await client.search_nearby(lon, lat, 1500.0, ("restaurant",))
    expected = expected_nearby(lat, lon, 1500.0, ("restaurant",), data=helsinki_data)
    assert len(expected) == 20
    assert result.capped
    assert [p.source_id for p in result.places] == [p.id for p in expected]
    assert {p.category for p in result.places} == {"restaurant"}


async def test_an_empty_answer(client: GooglePlacesClient) -> None:
    result = await client.search_nearby(10.0, 50.0, 100.0, FOOD)  # far from Helsinki: `{}`
    assert result == NearbyResult(places=[], capped=False)


def _assert_key_hidden(key: str, exc: BaseException, log_text: str, client: GooglePlacesClient) -> None:
    seen: BaseException | None = exc
    while seen is not None:
        assert key not in str(seen)
        assert key not in repr(seen)
        seen = seen.__cause__ or seen.__context__
    assert key not in log_text
    assert key not in repr(client)


async def test_a_wrong_key_is_rejected_without_showing_it(
    http: httpx.AsyncClient,
    limiter: Limiter,
    google_places_fake: GooglePlacesFake,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong_key = "AIzaSy-not-the-right-key-0123456789"
    client = _client(http, limiter, google_places_fake, wrong_key)
    with pytest.raises(UpstreamRejected) as caught:
        await client.search_nearby(*CENTRE, 200.0, FOOD)
    assert "403" in str(caught.value)
    assert "API key not valid" in str(caught.value)
    _assert_key_hidden(wrong_key, caught.value, caplog.text, client)


@pytest.mark.parametrize(
    ("fault", "error", "text"),
    [
        (GooglePlacesFault(kind="http_error", status=400), UpstreamRejected, "400: INVALID_ARGUMENT"),
        (GooglePlacesFault(kind="http_error", status=403), UpstreamRejected, "403: PERMISSION_DENIED"),
        (GooglePlacesFault(kind="http_error", status=404), UpstreamRejected, "404: NOT_FOUND"),
        (GooglePlacesFault(kind="internal"), UpstreamError, "500: INTERNAL"),
        (GooglePlacesFault(kind="unavailable"), UpstreamError, "503: UNAVAILABLE"),
        (GooglePlacesFault(kind="truncated"), UpstreamError, "malformed"),
        (GooglePlacesFault(kind="disconnect"), UpstreamError, "request failed"),
        (GooglePlacesFault(kind="rate_limited"), UpstreamThrottled, "RESOURCE_EXHAUSTED"),
    ],
)
async def test_each_error_path_keeps_the_key_hidden(
    client: GooglePlacesClient,
    google_places_fake: GooglePlacesFake,
    caplog: pytest.LogCaptureFixture,
    fault: GooglePlacesFault,
    error: type[UpstreamError],
    text: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    google_places_fake.inject(fault)
    with pytest.raises(UpstreamError) as caught:
        await client.search_nearby(*CENTRE, 200.0, FOOD)
    assert type(caught.value) is error
    assert text in str(caught.value)
    _assert_key_hidden(google_places_fake.api_key, caught.value, caplog.text, client)


async def test_429_pauses_the_shared_limiter(
    client: GooglePlacesClient, limiter: Limiter, google_places_fake: GooglePlacesFake
) -> None:
    google_places_fake.inject(GooglePlacesFault(kind="rate_limited", count=2))
    with pytest.raises(UpstreamThrottled) as first:
        await client.search_nearby(*CENTRE, 200.0, FOOD)
    status = await limiter.status()
    assert status.paused_until is not None
    assert (status.paused_until - status.server_time).total_seconds() > PAUSE_MIN_S * 0.8
    assert first.value.retry_after_s is not None
    assert first.value.retry_after_s >= PAUSE_MIN_S

    with pytest.raises(UpstreamThrottled) as second:
        await client.search_nearby(*CENTRE, 200.0, FOOD)  # waits for the pause first
    assert second.value.retry_after_s is not None
    assert second.value.retry_after_s >= 2 * PAUSE_MIN_S

    assert (await client.search_nearby(*CENTRE, 200.0, FOOD)).places
    assert google_places_fake.statuses() == [429, 429, 200]


async def test_the_quota_429_is_throttled(
    client: GooglePlacesClient, google_places_fake: GooglePlacesFake
) -> None:
    google_places_fake.configure(quota_per_minute=1)
    await client.search_nearby(*CENTRE, 200.0, FOOD)
    with pytest.raises(UpstreamThrottled, match="Quota exceeded"):
        await client.search_nearby(*CENTRE, 200.0, FOOD)


async def test_request_shape(client: GooglePlacesClient) -> None:
    body = client.request_body(24.94, 60.17, 300.0, ("bar", "fuel", "cafe"))
    assert body == {
        "includedTypes": ["bar", "gas_station", "cafe"],
        "maxResultCount": 20,
        "locationRestriction": {
            "circle": {"center": {"latitude": 60.17, "longitude": 24.94}, "radius": 300.0}
        },
        "rankPreference": "DISTANCE",
    }
    assert FIELD_MASK == (  # Pro fields only: billed as Nearby Search Pro
        "places.id,places.displayName,places.location,places.types,places.primaryType,"
        "places.addressComponents,places.businessStatus,places.accessibilityOptions"
    )
    assert FIELD_MASKS["enterprise"].startswith(FIELD_MASK + ",places.websiteUri,")
    with pytest.raises(ValueError, match="radius_m"):
        await client.search_nearby(24.94, 60.17, 50_001.0, ("cafe",))
    with pytest.raises(ValueError, match="radius_m"):
        await client.search_nearby(24.94, 60.17, 0.0, ("cafe",))


async def test_a_key_echoed_by_the_server_is_scrubbed(
    limiter: Limiter, caplog: pytest.LogCaptureFixture
) -> None:
    """Google does not echo keys, but a proxy might: the message must still not carry it."""
    caplog.set_level(logging.DEBUG)
    key = "AIzaSy-echoed-secret-key"

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["x-goog-api-key"] == key
        assert request.headers["x-goog-fieldmask"] == FIELD_MASK
        error = {"code": 400, "message": f"bad request with key={key}", "status": "INVALID_ARGUMENT"}
        return httpx.Response(400, json={"error": error})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        client = GooglePlacesClient(
            http, limiter, base_url="https://places.example.invalid", api_key=SecretStr(key), timeout_s=5
        )
        with pytest.raises(UpstreamRejected, match=r"key=\[redacted\]") as caught:
            await client.search_nearby(*CENTRE, 200.0, FOOD)
    _assert_key_hidden(key, caught.value, caplog.text, client)


# --- Text Search ---------------------------------------------------------------------------------

CENTRE_BOX = (24.942, 60.167, 24.948, 60.171)  # west, south, east, north: 41 restaurants


async def test_text_search_pages_hold_every_place_of_the_type_in_the_rectangle_once(
    client: GooglePlacesClient, google_places_fake: GooglePlacesFake, helsinki_data: OsmData
) -> None:
    google_places_fake.configure(page_token_delay_s=0.2)
    west, south, east, north = CENTRE_BOX
    expected = {
        place.id
        for place in expected_google_places(helsinki_data.bounds, ("restaurant",), data=helsinki_data)
        if west <= place.lon <= east and south <= place.lat <= north
    }
    assert 20 < len(expected) < 60  # more than one page, and within what Text Search returns
    found: list[str] = []
    token: str | None = None
    while True:
        page = await client.search_text(CENTRE_BOX, "restaurant", FOOD, page_token=token)
        assert len(page.places) == len(page.returned) <= 20
        found += [place.source_id for place in page.places]
        token = page.next_page_token
        if token is None:
            break
        await asyncio.sleep(0.2)
    assert sorted(found) == sorted(expected)
    assert len(google_places_fake.billable_calls()) == -(-len(expected) // 20)
    sent = google_places_fake.requests[0]
    assert sent.path.endswith("/v1/places:searchText")


async def test_a_page_token_asked_for_too_soon_is_googles_400(
    client: GooglePlacesClient, google_places_fake: GooglePlacesFake
) -> None:
    google_places_fake.configure(page_token_delay_s=30)
    page = await client.search_text(CENTRE_BOX, "restaurant", FOOD)
    assert page.next_page_token is not None
    with pytest.raises(UpstreamRejected, match="not yet valid"):
        await client.search_text(CENTRE_BOX, "restaurant", FOOD, page_token=page.next_page_token)


async def test_text_search_refuses_a_type_the_categories_do_not_have(client: GooglePlacesClient) -> None:
    with pytest.raises(ValueError, match="pharmacy"):
        await client.search_text(CENTRE_BOX, "pharmacy", FOOD)
    with pytest.raises(ValueError, match="out of range"):
        await client.search_text((24.9, 60.2, 24.8, 60.1), "restaurant", FOOD)


async def test_an_injected_fault_answers_a_text_search_page_too(
    client: GooglePlacesClient, google_places_fake: GooglePlacesFake
) -> None:
    google_places_fake.inject(GooglePlacesFault(kind="http_error", status=403, count=1))
    with pytest.raises(UpstreamRejected, match="403"):
        await client.search_text(CENTRE_BOX, "restaurant", FOOD)
    google_places_fake.inject(GooglePlacesFault(kind="internal", count=1))
    with pytest.raises(UpstreamError, match="500"):
        await client.search_text(CENTRE_BOX, "restaurant", FOOD)
    assert (await client.search_text(CENTRE_BOX, "restaurant", FOOD)).places
