"""The fake Places API (New) Nearby Search: format, key and field mask, validation, cap, quota, faults."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import shapely

from tests.fakes.expected import expected_google_places, expected_nearby
from tests.fakes.extract import OsmData
from tests.fakes.google_places import (
    TABLE_A_TYPES,
    GooglePlacesFake,
    GooglePlacesFault,
    google_places,
    haversine_m,
    parse_field_mask,
    place_id,
)

CENTRE = {"latitude": 60.1699, "longitude": 24.9410}
ALL_FIELDS = "*"
BASIC_MASK = "places.id,places.displayName,places.location,places.types,places.primaryType"


def body(radius: float = 300.0, **extra: Any) -> dict[str, Any]:
    return {"locationRestriction": {"circle": {"center": dict(CENTRE), "radius": radius}}, **extra}


def search(
    fake: GooglePlacesFake,
    payload: object,
    *,
    key: str | None = None,
    mask: str | None = BASIC_MASK,
    timeout: float = 30,
    client: httpx.Client | None = None,
) -> httpx.Response:
    headers = {"X-Goog-Api-Key": fake.api_key if key is None else key}
    if mask is not None:
        headers["X-Goog-FieldMask"] = mask
    content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers["Content-Type"] = "application/json"
    if client is not None:
        return client.post(fake.search_nearby_url, content=content, headers=headers, timeout=timeout)
    return httpx.post(fake.search_nearby_url, content=content, headers=headers, timeout=timeout)


@pytest.fixture
def google(helsinki_data: OsmData) -> Iterator[GooglePlacesFake]:
    with GooglePlacesFake.running(helsinki_data.path, api_key="k-123", quota_per_minute=None) as fake:
        yield fake


def assert_google_error(response: httpx.Response, code: int, status: str) -> str:
    assert response.status_code == code
    error = response.json()["error"]
    assert error["code"] == code
    assert error["status"] == status
    assert error["message"]
    message: str = error["message"]
    return message


def test_places_come_from_the_extract(helsinki_data: OsmData) -> None:
    places = google_places(helsinki_data)
    assert len(places) > 500
    assert len({p.id for p in places}) == len(places)
    assert all(p.id.startswith("ChIJ") and len(p.id) == 27 for p in places)
    assert place_id("node/60068035") == place_id("node/60068035") != place_id("way/60068035")
    java = next(p for p in places if p.osm_key == "node/60068035")
    assert java.name == "Cafe Java"
    assert java.primary_type == "cafe"
    assert java.types == ("cafe", "food", "point_of_interest", "establishment")
    assert {p.primary_type for p in places} >= {"restaurant", "cafe", "bar", "bank", "park"}


def test_nearby_answer_format_and_distance_order(google: GooglePlacesFake) -> None:
    response = search(
        google, body(rankPreference="DISTANCE", includedTypes=["restaurant"], maxResultCount=10)
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    places = response.json()["places"]
    assert len(places) == 10
    for place in places:
        assert list(place) == ["id", "types", "location", "displayName", "primaryType"]
        assert set(place["displayName"]) == {"text", "languageCode"}
        assert set(place["location"]) == {"latitude", "longitude"}
        assert "restaurant" in place["types"]
        assert place["primaryType"] == "restaurant"
    distances = [
        haversine_m(
            CENTRE["latitude"], CENTRE["longitude"], p["location"]["latitude"], p["location"]["longitude"]
        )
        for p in places
    ]
    assert distances == sorted(distances)
    assert distances[-1] <= 300
    oracle = expected_nearby(
        CENTRE["latitude"], CENTRE["longitude"], 300, ["restaurant"], max_result_count=10
    )
    assert [p["id"] for p in places] == [p.id for p in oracle]


def test_popularity_order_is_stable_and_differs(google: GooglePlacesFake) -> None:
    first = [p["id"] for p in search(google, body(radius=400)).json()["places"]]
    again = [p["id"] for p in search(google, body(radius=400)).json()["places"]]
    by_distance = [
        p["id"] for p in search(google, body(radius=400, rankPreference="DISTANCE")).json()["places"]
    ]
    assert first == again
    assert len(first) == 20
    assert first != by_distance
    oracle = expected_nearby(CENTRE["latitude"], CENTRE["longitude"], 400, rank_by_distance=False)
    assert first == [p.id for p in oracle]


def test_at_most_20_and_no_paging(google: GooglePlacesFake) -> None:
    big = search(google, body(radius=5000, includedTypes=["restaurant"])).json()
    assert len(big["places"]) == 20
    assert list(big) == ["places"]
    assert len(search(google, body(radius=5000, maxResultCount=3)).json()["places"]) == 3
    nothing = search(google, body(radius=1, includedTypes=["gas_station"]))
    assert nothing.status_code == 200
    assert nothing.json() == {}
    assert google.requests[0].elements == 20


def test_field_mask_is_applied(google: GooglePlacesFake) -> None:
    only_ids = search(google, body(), mask="places.id").json()["places"]
    assert only_ids
    assert all(list(p) == ["id"] for p in only_ids)
    text = search(google, body(), mask="places.displayName.text, places.location").json()["places"]
    assert all(list(p) == ["location", "displayName"] and list(p["displayName"]) == ["text"] for p in text)
    everything = search(google, body(), mask=ALL_FIELDS).json()["places"]
    assert {"name", "id", "types", "location", "displayName", "primaryType", "businessStatus"} <= set(
        everything[0]
    )
    assert everything[0]["name"] == f"places/{everything[0]['id']}"
    assert search(google, body(), mask="places").json()["places"] == everything
    assert search(google, body(), mask="places.priceLevel").json()["places"][0] == {}  # valid, no data
    rated = search(google, body(), mask="places.rating").json()["places"][0]
    assert list(rated) == ["rating"]  # and only what the mask asks for
    assert parse_field_mask("places.displayName,places.displayName.text") == {"places": {"displayName": None}}


def test_field_mask_is_required_and_checked(google: GooglePlacesFake) -> None:
    message = assert_google_error(search(google, body(), mask=None), 400, "INVALID_ARGUMENT")
    assert "FieldMask" in message
    message = assert_google_error(search(google, body(), mask="places.idd"), 400, "INVALID_ARGUMENT")
    assert "places.idd" in message
    assert_google_error(search(google, body(), mask="id"), 400, "INVALID_ARGUMENT")
    assert [r.outcome for r in google.requests] == ["no_field_mask", "bad_request", "bad_request"]


def test_api_key_is_checked(google: GooglePlacesFake) -> None:
    message = assert_google_error(search(google, body(), key="wrong"), 403, "PERMISSION_DENIED")
    assert "API key not valid" in message
    assert_google_error(search(google, body(), key=""), 403, "PERMISSION_DENIED")
    by_query = httpx.post(
        google.search_nearby_url,
        params={"key": "k-123"},
        json=body(),
        headers={"X-Goog-FieldMask": "places.id"},
    )
    assert by_query.status_code == 200
    assert [r.outcome for r in google.requests] == ["bad_key", "bad_key", "ok"]


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        (body(radius=0), "radius"),
        (body(radius=50_000.5), "radius"),
        (body(maxResultCount=0), "maxResultCount"),
        (body(maxResultCount=21), "maxResultCount"),
        (body(maxResultCount="5"), "max_result_count"),
        (body(includedTypes=["restaurant", "spaceport"]), "spaceport"),
        (body(includedTypes=["cafe"], excludedTypes=["cafe"]), "cafe"),
        (body(includedTypes=sorted(TABLE_A_TYPES)[:51]), "at most 50"),
        (body(rankPreference="BEST"), "rank_preference"),
        (body(textQuery="pizza"), "textQuery"),
        ({"locationRestriction": {"rectangle": {}}}, "circle"),
        ({}, "locationRestriction"),
        ([1, 2], "object"),
        (b"{not json", "Invalid JSON"),
        (
            body(radius=100) | {"locationRestriction": {"circle": {"center": {"latitude": 91}, "radius": 5}}},
            "latitude",
        ),
    ],
)
def test_invalid_bodies_are_400(google: GooglePlacesFake, payload: object, needle: str) -> None:
    message = assert_google_error(search(google, payload), 400, "INVALID_ARGUMENT")
    assert needle in message


def test_snake_case_body_is_accepted(google: GooglePlacesFake) -> None:
    payload = {
        "location_restriction": {"circle": {"center": CENTRE, "radius": 300}},
        "max_result_count": 2,
        "included_types": ["cafe"],
    }
    assert len(search(google, payload).json()["places"]) == 2


@pytest.mark.serial  # sub-second timing: alone on the machine
def test_quota_per_minute(helsinki_data: OsmData) -> None:
    with GooglePlacesFake.running(helsinki_data.path, quota_per_minute=3, quota_window_s=1.0) as fake:
        assert [search(fake, body()).status_code for _ in range(3)] == [200, 200, 200]
        message = assert_google_error(search(fake, body()), 429, "RESOURCE_EXHAUSTED")
        assert "Quota exceeded" in message
        assert search(fake, body(), key="wrong").status_code == 403  # key is checked before quota
        time.sleep(1.05)
        assert search(fake, body()).status_code == 200
        assert len(fake.billable_calls()) == 4
        assert [r.outcome for r in fake.requests].count("quota") == 1


@pytest.mark.parametrize(
    ("kind", "code", "status"),
    [
        ("rate_limited", 429, "RESOURCE_EXHAUSTED"),
        ("internal", 500, "INTERNAL"),
        ("unavailable", 503, "UNAVAILABLE"),
    ],
)
def test_fault_error_answers(google: GooglePlacesFake, kind: str, code: int, status: str) -> None:
    google.inject(GooglePlacesFault(kind=kind, count=2))
    assert_google_error(search(google, body()), code, status)
    assert_google_error(search(google, body()), code, status)
    assert search(google, body()).status_code == 200
    assert google.billable_calls() == google.requests[-1:]


def test_fault_http_error(google: GooglePlacesFake) -> None:
    google.inject(GooglePlacesFault(kind="http_error", status=504))
    assert_google_error(search(google, body()), 504, "DEADLINE_EXCEEDED")


def test_fault_truncated_and_disconnect(google: GooglePlacesFake) -> None:
    google.inject(GooglePlacesFault(kind="truncated"))
    google.inject(GooglePlacesFault(kind="disconnect"))
    cut = search(google, body())
    assert cut.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.text)
    with pytest.raises(httpx.RemoteProtocolError):
        search(google, body())
    assert search(google, body()).json()["places"]


def test_fault_slow(google: GooglePlacesFake) -> None:
    google.inject(GooglePlacesFault(kind="slow", delay_s=0.8, count=2))
    with pytest.raises(httpx.ReadTimeout):
        search(google, body(), timeout=0.2)
    started = time.monotonic()
    assert search(google, body()).status_code == 200
    assert time.monotonic() - started >= 0.7


def test_circles_covering_an_area_find_every_place_once(google: GooglePlacesFake) -> None:
    """The later Google-area test in miniature: split every circle that returns 20."""
    area = shapely.box(24.938, 60.165, 24.950, 60.172)
    types = ["cafe", "bar"]
    found: dict[str, int] = {}
    pending = [(24.944, 60.1685, 700.0)]
    calls = 0
    client = httpx.Client()
    while pending:
        lon, lat, radius = pending.pop()
        calls += 1
        places = (
            search(
                google,
                {
                    "locationRestriction": {
                        "circle": {"center": {"latitude": lat, "longitude": lon}, "radius": radius}
                    },
                    "includedTypes": types,
                    "maxResultCount": 20,
                },
                mask="places.id,places.location",
                client=client,
            )
            .json()
            .get("places", [])
        )
        if len(places) == 20:
            # four children whose circles cover the parent's bounding square
            dlat = radius / 2 / 111_195
            dlon = dlat / math.cos(math.radians(lat))
            child = radius / 2 * math.sqrt(2) * 1.01
            pending += [(lon + sx * dlon, lat + sy * dlat, child) for sx in (-1, 1) for sy in (-1, 1)]
            continue
        for place in places:
            point = shapely.Point(place["location"]["longitude"], place["location"]["latitude"])
            if area.covers(point):
                found[place["id"]] = found.get(place["id"], 0) + 1
    client.close()
    expected = {p.id for p in expected_google_places(area, types)}
    assert set(found) == expected
    assert len(expected) > 40
    assert calls == len(google.requests)
    assert calls > 5


def test_runs_as_a_separate_process(helsinki_data: OsmData) -> None:
    with GooglePlacesFake.running(helsinki_data.path, in_process=False, api_key="proc-key") as fake:
        assert fake.api_key == "proc-key"
        assert len(search(fake, body(maxResultCount=4)).json()["places"]) == 4
        fake.inject(GooglePlacesFault(kind="internal"))
        assert search(fake, body()).status_code == 500
        assert [r.status for r in fake.requests] == [200, 500]


# --- Text Search (New) -------------------------------------------------------------------------

RECTANGLE = {
    "low": {"latitude": 60.160, "longitude": 24.925},
    "high": {"latitude": 60.180, "longitude": 24.960},
}
TEXT_MASK = BASIC_MASK + ",nextPageToken"


def search_text(fake: GooglePlacesFake, payload: dict[str, Any], mask: str = TEXT_MASK) -> httpx.Response:
    headers = {"X-Goog-Api-Key": fake.api_key, "X-Goog-FieldMask": mask}
    return httpx.post(fake.search_text_url, json=payload, headers=headers, timeout=30)


def text_body(**extra: Any) -> dict[str, Any]:
    return {
        "textQuery": "restaurant",
        "includedType": "restaurant",
        "locationRestriction": {"rectangle": RECTANGLE},
        **extra,
    }


def test_text_search_pages_up_to_60_with_a_delayed_token_bound_to_the_request(helsinki_data: OsmData) -> None:
    with GooglePlacesFake.running(helsinki_data.path, quota_per_minute=None, page_token_delay_s=0.5) as fake:
        first = search_text(fake, text_body()).json()
        assert len(first["places"]) == 20
        token = first["nextPageToken"]
        early = search_text(fake, text_body(pageToken=token))
        assert "not yet valid" in assert_google_error(early, 400, "INVALID_ARGUMENT")
        other = search_text(fake, text_body(textQuery="restaurants", pageToken=token))
        time.sleep(0.5)
        assert "different request" in assert_google_error(other, 400, "INVALID_ARGUMENT")
        ids = [p["id"] for p in first["places"]]
        while token is not None:
            page = search_text(fake, text_body(pageToken=token, pageSize=20)).json()
            ids += [p["id"] for p in page.get("places", [])]
            token = page.get("nextPageToken")
            if token is not None:
                time.sleep(0.5)
        assert len(ids) == len(set(ids)) == 60
        in_rectangle = [
            p
            for p in google_places(helsinki_data)
            if p.primary_type == "restaurant" and 60.160 <= p.lat <= 60.180 and 24.925 <= p.lon <= 24.960
        ]
        assert len(in_rectangle) > 60  # more exist than Text Search will ever return for one query
        assert set(ids) <= {p.id for p in in_rectangle}
        assert len([r for r in fake.requests if r.status == 200]) == 3  # each page is billed


def test_text_search_token_only_with_the_mask_asking_for_it(google: GooglePlacesFake) -> None:
    answer = search_text(google, text_body(), mask=BASIC_MASK).json()
    assert len(answer["places"]) == 20
    assert "nextPageToken" not in answer


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        ({"includedType": "cafe"}, "text_query"),
        (text_body(locationRestriction={"circle": {"center": CENTRE, "radius": 10}}), "rectangle"),
        (text_body(includedType="spaceport"), "Unsupported types"),
        (text_body(pageSize=-1), "page_size"),
        (text_body(maxResultCount=21), "maxResultCount"),
        (text_body(pageToken="forged"), "page_token"),
        (text_body(rankPreference="POPULARITY"), "rank_preference"),
        (
            text_body(
                locationRestriction={"rectangle": {"low": RECTANGLE["high"], "high": RECTANGLE["low"]}}
            ),
            "low latitude",
        ),
    ],
)
def test_text_search_invalid_bodies_are_400(
    google: GooglePlacesFake, payload: dict[str, Any], needle: str
) -> None:
    assert needle in assert_google_error(search_text(google, payload), 400, "INVALID_ARGUMENT")


def test_nearby_max_result_count_outside_1_to_20_is_400(google: GooglePlacesFake) -> None:
    for count in (0, 21):
        response = search(google, body(maxResultCount=count))
        assert "maxResultCount" in assert_google_error(response, 400, "INVALID_ARGUMENT")
