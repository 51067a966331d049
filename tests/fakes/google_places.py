"""A Google Places API (New) Nearby Search stand-in on 127.0.0.1, with places from the Helsinki extract.

    with GooglePlacesFake.running(api_key="test-key", quota_per_minute=60) as fake:
        os.environ["AREAFETCH_GOOGLE_PLACES_URL"] = fake.url
        os.environ["AREAFETCH_GOOGLE_API_KEY"] = fake.api_key

    python -m tests.fakes.google_places --port 8124 --api-key test-key

`POST /v1/places:searchNearby`, as documented for the real API:
- `X-Goog-Api-Key` (or `?key=`): missing or wrong -> 403 PERMISSION_DENIED.
- `X-Goog-FieldMask` (or `?fields=`): missing -> 400 INVALID_ARGUMENT; `*`, `places`,
  `places.<field>` and `places.<field>.<subfield>`; an unknown field -> 400. The answer holds only
  the requested fields.
- body (JSON, camelCase or snake_case): `locationRestriction.circle` {center {latitude, longitude},
  radius 0 < r <= 50000} (required), `includedTypes`, `excludedTypes`, `includedPrimaryTypes`,
  `excludedPrimaryTypes` (Table A type names), `maxResultCount` 1..20 (default 20),
  `rankPreference` POPULARITY (default) | DISTANCE, `languageCode`, `regionCode`. Anything else
  or out of range -> 400 INVALID_ARGUMENT.
- answer: `{"places": [...]}` with at most `maxResultCount` places whose location is within the
  circle (haversine on a sphere of radius 6,371,008.8 m), ranked by distance (then id) or by a
  stable pseudo-popularity; `{}` when none. No paging, as in the real API.
- quota: at most `quota_per_minute` accepted calls per key in any `quota_window_s` (60) window
  (a sliding window) -> 429 RESOURCE_EXHAUSTED. Rejected calls do not count.
`POST /v1/places:searchText` (Text Search (New)): the same key, field mask (which may also name
`nextPageToken`), quota and error shapes; body `textQuery` (required), `includedType` (one Table A
type), `locationRestriction.rectangle` {low, high} (a rectangle only), `pageSize` (0 -> 20, above 20
-> 20), `pageToken`, `rankPreference` RELEVANCE (default) | DISTANCE. A query matches a place when a
word of it names one of the place's types or occurs in its name. Pages of up to 20, at most 60
results over all pages; `nextPageToken` while more remain. A token is accepted only
`page_token_delay_s` (2 s) after it was issued and only with the same request (all fields but
`pageToken`, `pageSize`, `maxResultCount`): else 400 INVALID_ARGUMENT. Every page is a billed call.
Errors use Google's JSON shape `{"error": {"code", "message", "status"}}`.

Places: every tagged OSM node/way/relation of the extract that has a `name` and a tag in
`OSM_TO_GOOGLE` (first match in that table's order), located at the node or the way's/relation's
`out center` point. Its id is "ChIJ" + a stable hash of "node/123" (see `place_id`).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import math
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import anyio
from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from areafetch.areas.categories import google_table_a_types
from tests.fakes._server import (
    FakeHandle,
    FakeState,
    RequestRecord,
    control_routes,
    disconnecting_response,
    running_fake,
    serve_forever,
)
from tests.fakes.extract import OsmData, load_osm_data

EARTH_RADIUS_M = 6_371_008.8
MAX_RADIUS_M = 50_000.0
MAX_RESULTS = 20
JSON_TYPE = "application/json; charset=UTF-8"

# (OSM key, OSM value, Google primary type), first match wins.
OSM_TO_GOOGLE: tuple[tuple[str, str, str], ...] = (
    ("amenity", "restaurant", "restaurant"),
    ("amenity", "fast_food", "fast_food_restaurant"),
    ("amenity", "cafe", "cafe"),
    ("amenity", "bar", "bar"),
    ("amenity", "pub", "bar"),
    ("amenity", "school", "school"),
    ("amenity", "pharmacy", "pharmacy"),
    ("amenity", "hospital", "hospital"),
    ("amenity", "bank", "bank"),
    ("amenity", "fuel", "gas_station"),
    ("amenity", "library", "library"),
    ("amenity", "cinema", "movie_theater"),
    ("amenity", "theatre", "performing_arts_theater"),
    ("amenity", "post_office", "post_office"),
    ("shop", "supermarket", "supermarket"),
    ("shop", "convenience", "convenience_store"),
    ("shop", "bakery", "bakery"),
    ("shop", "books", "book_store"),
    ("shop", "clothes", "clothing_store"),
    ("shop", "shoes", "shoe_store"),
    ("shop", "jewelry", "jewelry_store"),
    ("shop", "furniture", "furniture_store"),
    ("shop", "hairdresser", "hair_care"),
    ("leisure", "park", "park"),
    ("tourism", "hotel", "hotel"),
    ("tourism", "museum", "museum"),
)
_FOOD = {"restaurant", "fast_food_restaurant", "cafe", "bar", "bakery"}
_STORE = {
    "supermarket",
    "convenience_store",
    "bakery",
    "book_store",
    "clothing_store",
    "shoe_store",
    "jewelry_store",
    "furniture_store",
}
# Table A type names the fake accepts in type filters (those it maps, and common others that
# simply match nothing here). A name outside this set is answered 400 "Unsupported types".
TABLE_A_TYPES: frozenset[str] = google_table_a_types() | frozenset(
    {google for _, _, google in OSM_TO_GOOGLE}
    | _STORE
    | {
        "store",
        "accounting",
        "airport",
        "amusement_park",
        "aquarium",
        "art_gallery",
        "atm",
        "bicycle_store",
        "beauty_salon",
        "bus_station",
        "car_rental",
        "car_repair",
        "car_wash",
        "church",
        "city_hall",
        "courthouse",
        "dentist",
        "department_store",
        "doctor",
        "drugstore",
        "electronics_store",
        "embassy",
        "fire_station",
        "florist",
        "gift_shop",
        "grocery_store",
        "gym",
        "hardware_store",
        "home_goods_store",
        "lodging",
        "market",
        "meal_takeaway",
        "night_club",
        "parking",
        "pet_store",
        "playground",
        "police",
        "primary_school",
        "secondary_school",
        "shopping_mall",
        "spa",
        "sports_club",
        "stadium",
        "subway_station",
        "taxi_stand",
        "tourist_attraction",
        "train_station",
        "transit_station",
        "university",
        "veterinary_care",
        "zoo",
        "coffee_shop",
        "pizza_restaurant",
        "sushi_restaurant",
        "hamburger_restaurant",
        "ice_cream_shop",
        "pub",
        "wine_bar",
        "sandwich_shop",
        "steak_house",
    }
)
PLACE_FIELDS: tuple[str, ...] = (
    "name",
    "id",
    "types",
    "formattedAddress",
    "location",
    "websiteUri",
    "internationalPhoneNumber",
    "displayName",
    "primaryType",
    "primaryTypeDisplayName",
    "businessStatus",
    "addressComponents",
    "accessibilityOptions",
    "regularOpeningHours",
    "rating",
    "userRatingCount",
    # Valid in the real API; the fake has no data for them, so they are simply absent.
    "nationalPhoneNumber",
    "shortFormattedAddress",
    "googleMapsUri",
    "priceLevel",
    "currentOpeningHours",
    "plusCode",
    "viewport",
    "utcOffsetMinutes",
    "photos",
    "editorialSummary",
    "reviews",
    "iconMaskBaseUri",
    "iconBackgroundColor",
    "adrFormatAddress",
)
RESPONSE_FIELDS = ("places", "routingSummaries")
TEXT_RESPONSE_FIELDS = ("places", "routingSummaries", "nextPageToken", "searchUri")
TEXT_SEARCH_MAX_RESULTS = 60
"""Text Search (New) answers at most this many places over all pages of one query."""


def place_id(osm_key: str) -> str:
    """A stable Google-looking place id for an OSM element key such as "node/123" (27 chars)."""
    digest = hashlib.blake2b(osm_key.encode(), digest_size=18, person=b"areafetch-fake").digest()
    return "ChIJ" + base64.urlsafe_b64encode(digest).decode().rstrip("=")[:23]


@dataclass(frozen=True, slots=True)
class FakePlace:
    """One place the fake Google knows, made from one OSM element."""

    id: str
    osm_key: str
    """"node/123", "way/456" or "relation/789": the element it was made from."""
    name: str
    tags: Mapping[str, str]
    lat: float
    lon: float
    primary_type: str
    types: tuple[str, ...]
    popularity: int
    """Higher ranks first under POPULARITY (a stable hash, the fake's only notion of popularity)."""

    def display_name(self, language: str | None) -> dict[str, str]:
        if language and f"name:{language}" in self.tags:
            return {"text": self.tags[f"name:{language}"], "languageCode": language}
        return {"text": self.name, "languageCode": "fi"}

    def formatted_address(self) -> str | None:
        street = self.tags.get("addr:street")
        if not street:
            return None
        number = self.tags.get("addr:housenumber")
        city = " ".join(
            filter(None, [self.tags.get("addr:postcode"), self.tags.get("addr:city", "Helsinki")])
        )
        return ", ".join(filter(None, [f"{street} {number}" if number else street, city, "Finland"]))

    def to_json(self, language: str | None) -> dict[str, Any]:
        """Every field the fake has for this place, in the API's field order."""
        result: dict[str, Any] = {
            "name": f"places/{self.id}",
            "id": self.id,
            "types": list(self.types),
        }
        address = self.formatted_address()
        if address:
            result["formattedAddress"] = address
        result["location"] = {"latitude": self.lat, "longitude": self.lon}
        website = self.tags.get("website") or self.tags.get("contact:website") or self.tags.get("url")
        if website:
            result["websiteUri"] = website
        phone = self.tags.get("phone") or self.tags.get("contact:phone")
        if phone:
            result["internationalPhoneNumber"] = phone
        result["displayName"] = self.display_name(language)
        result["primaryType"] = self.primary_type
        result["primaryTypeDisplayName"] = {
            "text": self.primary_type.replace("_", " ").capitalize(),
            "languageCode": "en-US",
        }
        result["businessStatus"] = "OPERATIONAL"
        components = self.address_components()
        if components:
            result["addressComponents"] = components
        if self.tags.get("wheelchair") in ("yes", "no", "limited"):
            result["accessibilityOptions"] = {"wheelchairAccessibleEntrance": self.tags["wheelchair"] != "no"}
        if self.tags.get("opening_hours"):
            result["regularOpeningHours"] = {"weekdayDescriptions": [self.tags["opening_hours"]]}
        # Ratings are Google's own (no OSM data): stable figures derived from the place's popularity.
        result["rating"] = round(3.0 + (self.popularity % 21) / 10.0, 1)
        result["userRatingCount"] = 1 + self.popularity % 997
        return result

    def address_components(self) -> list[dict[str, Any]]:
        """Google's structured address (`addressComponents`), from the element's addr:* tags."""
        parts = [
            ("addr:housenumber", "street_number"),
            ("addr:street", "route"),
            ("addr:postcode", "postal_code"),
            ("addr:city", "locality"),
        ]
        return [
            {
                "longText": self.tags[key],
                "shortText": self.tags[key],
                "types": [google_type],
                "languageCode": "fi",
            }
            for key, google_type in parts
            if self.tags.get(key)
        ]


def google_type_for(tags: Mapping[str, str]) -> str | None:
    for key, value, google in OSM_TO_GOOGLE:
        if tags.get(key) == value:
            return google
    return None


def _types_for(primary: str) -> tuple[str, ...]:
    extra = []
    if primary in _FOOD:
        extra.append("food")
    if primary in _STORE:
        extra.append("store")
    return (primary, *extra, "point_of_interest", "establishment")


@lru_cache(maxsize=4)
def google_places(data: OsmData) -> tuple[FakePlace, ...]:
    """Every place the fake Google knows, from an extract's data."""
    places = []
    for element in data.elements:
        name = element.tags.get("name")
        primary = google_type_for(element.tags)
        if not name or primary is None:
            continue
        pid = place_id(element.key)
        popularity = int.from_bytes(hashlib.sha256(pid.encode()).digest()[:4], "big")
        places.append(
            FakePlace(
                id=pid,
                osm_key=element.key,
                name=name,
                tags=element.tags,
                lat=element.lat,
                lon=element.lon,
                primary_type=primary,
                types=_types_for(primary),
                popularity=popularity,
            )
        )
    return tuple(places)


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (the distance the fake's circles use)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


# --- request parsing ---------------------------------------------------------------------------


class InvalidArgument(ValueError):
    pass


RankPreference = Literal["POPULARITY", "DISTANCE"]


@dataclass(frozen=True, slots=True)
class NearbyRequest:
    latitude: float
    longitude: float
    radius_m: float
    included_types: frozenset[str]
    excluded_types: frozenset[str]
    included_primary_types: frozenset[str]
    excluded_primary_types: frozenset[str]
    max_result_count: int
    rank_preference: RankPreference
    language_code: str | None


_ALIASES = {
    "included_types": "includedTypes",
    "excluded_types": "excludedTypes",
    "included_primary_types": "includedPrimaryTypes",
    "excluded_primary_types": "excludedPrimaryTypes",
    "max_result_count": "maxResultCount",
    "location_restriction": "locationRestriction",
    "rank_preference": "rankPreference",
    "language_code": "languageCode",
    "region_code": "regionCode",
    "routing_parameters": "routingParameters",
}
_TOP_FIELDS = set(_ALIASES.values())


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(f"Invalid value at '{what}' (TYPE_DOUBLE), \"{value}\"")
    return float(value)


def _types(value: object, what: str) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"Invalid value at '{what}': expected a list of strings.")
    if len(value) > 50:
        raise InvalidArgument(f"Invalid value at '{what}': at most 50 types may be specified.")
    unsupported = [v for v in value if v not in TABLE_A_TYPES]
    if unsupported:
        raise InvalidArgument(f"Unsupported types: {', '.join(unsupported)}.")
    return frozenset(value)


def parse_nearby_request(body: object) -> NearbyRequest:
    """Validate a searchNearby body like the real API; raise InvalidArgument with its message."""
    if not isinstance(body, dict):
        raise InvalidArgument("Invalid JSON payload received. Expected an object.")
    fields: dict[str, Any] = {}
    for key, value in body.items():
        name = _ALIASES.get(key, key)
        if name not in _TOP_FIELDS:
            raise InvalidArgument(f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.')
        fields[name] = value
    restriction = fields.get("locationRestriction")
    if not isinstance(restriction, dict) or not isinstance(restriction.get("circle"), dict):
        raise InvalidArgument("locationRestriction.circle is required.")
    unknown = set(restriction) - {"circle"}
    if unknown:
        raise InvalidArgument(
            f'Invalid JSON payload received. Unknown name "{sorted(unknown)[0]}" '
            "at 'location_restriction': "
            "Cannot find field."
        )
    circle = restriction["circle"]
    center = circle.get("center")
    if not isinstance(center, dict):
        raise InvalidArgument("locationRestriction.circle.center is required.")
    latitude = _number(center.get("latitude", 0.0), "location_restriction.circle.center.latitude")
    longitude = _number(center.get("longitude", 0.0), "location_restriction.circle.center.longitude")
    if not -90 <= latitude <= 90:
        raise InvalidArgument("Invalid latitude: must be in the range [-90, 90].")
    if not -180 <= longitude <= 180:
        raise InvalidArgument("Invalid longitude: must be in the range [-180, 180].")
    radius = _number(circle.get("radius", 0.0), "location_restriction.circle.radius")
    if not 0 < radius <= MAX_RADIUS_M:
        raise InvalidArgument(f"Invalid radius: {radius}. It must be greater than 0 and at most 50000.0.")
    count_value = fields.get("maxResultCount", MAX_RESULTS)
    if isinstance(count_value, bool) or not isinstance(count_value, int):
        raise InvalidArgument(f"Invalid value at 'max_result_count' (TYPE_INT32), \"{count_value}\"")
    if not 1 <= count_value <= MAX_RESULTS:
        raise InvalidArgument(f"maxResultCount must be between 1 and {MAX_RESULTS}, got {count_value}.")
    rank = fields.get("rankPreference", "POPULARITY")
    if rank == "RANK_PREFERENCE_UNSPECIFIED":
        rank = "POPULARITY"
    if rank not in ("POPULARITY", "DISTANCE"):
        raise InvalidArgument(
            "Invalid value at 'rank_preference' "
            "(type.googleapis.com/google.maps.places.v1.SearchNearbyRequest.RankPreference), "
            f'"{rank}"'
        )
    included = _types(fields.get("includedTypes"), "included_types")
    excluded = _types(fields.get("excludedTypes"), "excluded_types")
    included_primary = _types(fields.get("includedPrimaryTypes"), "included_primary_types")
    excluded_primary = _types(fields.get("excludedPrimaryTypes"), "excluded_primary_types")
    both = (included & excluded) | (included_primary & excluded_primary)
    if both:
        raise InvalidArgument(f"Types cannot be both included and excluded: {', '.join(sorted(both))}.")
    language = fields.get("languageCode")
    if language is not None and not isinstance(language, str):
        raise InvalidArgument("Invalid value at 'language_code' (TYPE_STRING)")
    return NearbyRequest(
        latitude=latitude,
        longitude=longitude,
        radius_m=radius,
        included_types=included,
        excluded_types=excluded,
        included_primary_types=included_primary,
        excluded_primary_types=excluded_primary,
        max_result_count=count_value,
        rank_preference=rank,
        language_code=language,
    )


def search_nearby(places: tuple[FakePlace, ...], request: NearbyRequest) -> list[FakePlace]:
    """What the fake answers: matching places in the circle, ranked, capped at maxResultCount."""
    hits: list[tuple[float, FakePlace]] = []
    for place in places:
        types = set(place.types)
        if request.included_types and not (types & request.included_types):
            continue
        if request.excluded_types and types & request.excluded_types:
            continue
        if request.included_primary_types and place.primary_type not in request.included_primary_types:
            continue
        if place.primary_type in request.excluded_primary_types:
            continue
        distance = haversine_m(request.latitude, request.longitude, place.lat, place.lon)
        if distance <= request.radius_m:
            hits.append((distance, place))
    if request.rank_preference == "DISTANCE":
        hits.sort(key=lambda hit: (hit[0], hit[1].id))
    else:
        hits.sort(key=lambda hit: (-hit[1].popularity, hit[1].id))
    return [place for _, place in hits[: request.max_result_count]]


# --- Text Search (New) -------------------------------------------------------------------------

TextRankPreference = Literal["RELEVANCE", "DISTANCE"]

_TEXT_ALIASES = {
    "text_query": "textQuery",
    "included_type": "includedType",
    "strict_type_filtering": "strictTypeFiltering",
    "page_size": "pageSize",
    "page_token": "pageToken",
    "max_result_count": "maxResultCount",
    "location_restriction": "locationRestriction",
    "location_bias": "locationBias",
    "rank_preference": "rankPreference",
    "language_code": "languageCode",
    "region_code": "regionCode",
    "open_now": "openNow",
    "min_rating": "minRating",
    "price_levels": "priceLevels",
    "include_pure_service_area_businesses": "includePureServiceAreaBusinesses",
}
_TEXT_FIELDS = set(_TEXT_ALIASES.values())
# What a page token is bound to: every field but these (Google: "all parameters other than pageToken,
# pageSize, and maxResultCount ... must match the initial call").
_UNBOUND_BY_TOKEN = {"pageToken", "pageSize", "maxResultCount"}


@dataclass(frozen=True, slots=True)
class TextRequest:
    query_words: frozenset[str]
    included_type: str | None
    rectangle: tuple[float, float, float, float] | None
    """(south, west, north, east) of locationRestriction.rectangle."""
    page_size: int
    page_token: str | None
    rank_preference: TextRankPreference
    language_code: str | None
    bound_fields: str
    """The request's fields a page token is bound to, as canonical JSON."""


def _lat_lng(value: object, what: str) -> tuple[float, float]:
    if not isinstance(value, dict):
        raise InvalidArgument(f"{what} is required.")
    latitude = _number(value.get("latitude", 0.0), f"{what}.latitude")
    longitude = _number(value.get("longitude", 0.0), f"{what}.longitude")
    if not -90 <= latitude <= 90 or not -180 <= longitude <= 180:
        raise InvalidArgument(f"Invalid {what}: latitude in [-90, 90], longitude in [-180, 180].")
    return latitude, longitude


def _rectangle(restriction: object) -> tuple[float, float, float, float] | None:
    if restriction is None:
        return None
    if not isinstance(restriction, dict) or set(restriction) != {"rectangle"}:
        raise InvalidArgument("locationRestriction must be a rectangle (a circle is not supported).")
    rectangle = restriction["rectangle"]
    if not isinstance(rectangle, dict):
        raise InvalidArgument("locationRestriction.rectangle is required.")
    south, west = _lat_lng(rectangle.get("low"), "location_restriction.rectangle.low")
    north, east = _lat_lng(rectangle.get("high"), "location_restriction.rectangle.high")
    if south > north:
        raise InvalidArgument("Viewport's low latitude must be smaller than or equal to its high latitude.")
    return south, west, north, east


def parse_text_request(body: object) -> TextRequest:
    """Validate a searchText body like the real API; raise InvalidArgument with its message."""
    if not isinstance(body, dict):
        raise InvalidArgument("Invalid JSON payload received. Expected an object.")
    fields: dict[str, Any] = {}
    for key, value in body.items():
        name = _TEXT_ALIASES.get(key, key)
        if name not in _TEXT_FIELDS:
            raise InvalidArgument(f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.')
        fields[name] = value
    query = fields.get("textQuery")
    if not isinstance(query, str) or not query.strip():
        raise InvalidArgument("Empty text_query.")
    included = fields.get("includedType")
    if included is not None and (not isinstance(included, str) or included not in TABLE_A_TYPES):
        raise InvalidArgument(f"Unsupported types: {included}.")
    page_size = fields.get("pageSize", fields.get("maxResultCount", 0))
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 0:
        raise InvalidArgument(f"Invalid value at 'page_size' (TYPE_INT32), \"{page_size}\"")
    if "pageSize" not in fields and "maxResultCount" in fields and not 1 <= page_size <= MAX_RESULTS:
        raise InvalidArgument(f"maxResultCount must be between 1 and {MAX_RESULTS}, got {page_size}.")
    rank = fields.get("rankPreference", "RELEVANCE")
    if rank == "RANK_PREFERENCE_UNSPECIFIED":
        rank = "RELEVANCE"
    if rank not in ("RELEVANCE", "DISTANCE"):
        raise InvalidArgument(
            "Invalid value at 'rank_preference' "
            f'(type.googleapis.com/google.maps.places.v1.SearchTextRequest.RankPreference), "{rank}"'
        )
    token = fields.get("pageToken")
    if token is not None and not isinstance(token, str):
        raise InvalidArgument("Invalid value at 'page_token' (TYPE_STRING)")
    language = fields.get("languageCode")
    if language is not None and not isinstance(language, str):
        raise InvalidArgument("Invalid value at 'language_code' (TYPE_STRING)")
    bound = {k: v for k, v in fields.items() if k not in _UNBOUND_BY_TOKEN}
    return TextRequest(
        query_words=frozenset(query.lower().replace(",", " ").split()),
        included_type=included,
        rectangle=_rectangle(fields.get("locationRestriction")),
        page_size=min(page_size or MAX_RESULTS, MAX_RESULTS),
        page_token=token or None,
        rank_preference=rank,
        language_code=language,
        bound_fields=json.dumps(bound, sort_keys=True),
    )


def _matches_text(place: FakePlace, words: frozenset[str]) -> bool:
    """The fake's notion of a text match: a query word names one of the place's types (`cafe`,
    `restaurant`, `gas station`...) or occurs in its name."""
    type_words = {word for kind in place.types for word in kind.split("_")} | set(place.types)
    name = place.name.lower()
    return bool(words & type_words) or any(len(word) > 3 and word in name for word in words)


def _in_rectangle(place: FakePlace, rectangle: tuple[float, float, float, float]) -> bool:
    south, west, north, east = rectangle
    if not south <= place.lat <= north:
        return False
    if west <= east:
        return west <= place.lon <= east
    return place.lon >= west or place.lon <= east  # across the antimeridian


def search_text(places: tuple[FakePlace, ...], request: TextRequest) -> list[FakePlace]:
    """Every result of a query over all its pages: at most 60, ranked."""
    hits = [
        place
        for place in places
        if (request.included_type is None or request.included_type in place.types)
        and (request.rectangle is None or _in_rectangle(place, request.rectangle))
        and _matches_text(place, request.query_words)
    ]
    if request.rank_preference == "DISTANCE" and request.rectangle is not None:
        south, west, north, east = request.rectangle
        lat, lon = (south + north) / 2, (west + east) / 2
        hits.sort(key=lambda place: (haversine_m(lat, lon, place.lat, place.lon), place.id))
    else:
        hits.sort(key=lambda place: (-place.popularity, place.id))
    return hits[:TEXT_SEARCH_MAX_RESULTS]


@dataclass(frozen=True, slots=True)
class _IssuedToken:
    bound_fields: str
    offset: int
    ready_at: float


class PageTokens:
    """The nextPageTokens the fake has issued: each is usable only after `delay_s` and only with the
    request it came from (every field but pageToken, pageSize and maxResultCount the same)."""

    def __init__(self, delay_s: Callable[[], float] | None = None) -> None:
        self._issued: dict[str, _IssuedToken] = {}
        self.delay_s: Callable[[], float] = delay_s or (lambda: 2.0)

    def clear(self) -> None:
        self._issued.clear()

    def issue(self, request: TextRequest, offset: int, now: float) -> str:
        token = secrets.token_urlsafe(48)
        self._issued[token] = _IssuedToken(request.bound_fields, offset, now + self.delay_s())
        return token

    def offset_for(self, request: TextRequest, now: float) -> int:
        """Where the request's page starts (0 without a token); InvalidArgument for a bad token."""
        if request.page_token is None:
            return 0
        issued = self._issued.get(request.page_token)
        if issued is None:
            raise InvalidArgument("Invalid page_token.")
        if issued.bound_fields != request.bound_fields:
            raise InvalidArgument(
                "The page_token was issued for a different request: every parameter but page_token, "
                "page_size and max_result_count must match the initial call."
            )
        if now < issued.ready_at:
            raise InvalidArgument("The page_token is not yet valid; retry after a short delay.")
        return issued.offset


# --- field masks -------------------------------------------------------------------------------

MaskTree = dict[str, "MaskTree | None"]
"""field -> its subtree; None means the whole field."""


def parse_field_mask(header: str, response_fields: tuple[str, ...] = RESPONSE_FIELDS) -> MaskTree | None:
    """`places.id,places.displayName.text` -> {"places": {"id": None, "displayName": {"text": None}}}.

    None: everything (`*`). Raises InvalidArgument for a path the response cannot have.
    """
    paths = [p.strip() for p in header.split(",") if p.strip()]
    if not paths:
        raise InvalidArgument("FieldMask is a required parameter. Set the header 'X-Goog-FieldMask'.")
    tree: MaskTree = {}
    for path in paths:
        if path == "*":
            return None
        parts = [part for part in path.split(".") if part != "*"]
        if (
            not parts
            or parts[0] not in response_fields
            or (len(parts) > 1 and parts[0] == "places" and parts[1] not in PLACE_FIELDS)
        ):
            raise InvalidArgument(
                f"Error expanding 'fields' parameter. Cannot find matching fields for path '{path}'."
            )
        node: MaskTree = tree
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            if part in node and node[part] is None:
                break  # the whole of it is already asked for
            if last:
                node[part] = None
            else:
                child = node.setdefault(part, {})
                assert child is not None
                node = child
    return tree


def apply_mask(value: Any, tree: MaskTree | None) -> Any:
    """Keep only the masked fields of a response (lists are masked item by item)."""
    if tree is None:
        return value
    if isinstance(value, list):
        return [apply_mask(item, tree) for item in value]
    if isinstance(value, dict):
        return {k: apply_mask(v, tree[k]) for k, v in value.items() if k in tree}
    return value


# --- the server --------------------------------------------------------------------------------


class GooglePlacesSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    api_key: str = Field(default="test-google-api-key", min_length=1)
    quota_per_minute: int | None = Field(
        default=600, ge=1, description="accepted calls per window; None: none"
    )
    quota_window_s: float = Field(default=60.0, gt=0)
    latency_s: float = Field(default=0.0, ge=0)
    page_token_delay_s: float = Field(
        default=2.0, ge=0, description="a Text Search nextPageToken is refused until this old"
    )
    labelled_set: bool = Field(
        default=False, description="serve the perturbed places of `labelled_places` (conflation's test set)"
    )


GoogleFaultKind = Literal[
    "rate_limited",  # 429 RESOURCE_EXHAUSTED
    "internal",  # 500 INTERNAL
    "unavailable",  # 503 UNAVAILABLE
    "slow",  # the normal answer after delay_s
    "truncated",  # 200 with the JSON cut in the middle
    "disconnect",  # 200 headers, half the body, then the connection drops
    "http_error",  # `status` with a Google error JSON
]


class GooglePlacesFault(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: GoogleFaultKind
    count: int = Field(default=1, ge=1)
    delay_s: float = Field(default=0.0, ge=0)
    status: int = Field(default=500, ge=400, le=599)


_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def google_error(code: int, message: str, details: list[dict[str, Any]] | None = None) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message, "status": _STATUS_NAMES.get(code, "UNKNOWN")}
    if details:
        error["details"] = details
    return JSONResponse({"error": error}, status_code=code, media_type=JSON_TYPE)


def _error_info(reason: str) -> list[dict[str, Any]]:
    return [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": "googleapis.com",
            "metadata": {"service": "places.googleapis.com"},
        }
    ]


class GooglePlacesApp:
    def __init__(self, data: OsmData, settings: GooglePlacesSettings) -> None:
        self.data = data
        self.state: FakeState[GooglePlacesSettings, GooglePlacesFault] = FakeState(
            settings, GooglePlacesFault
        )
        self.accepted: defaultdict[str, deque[float]] = defaultdict(deque)
        self.page_tokens = PageTokens(lambda: self.settings.page_token_delay_s)
        routes = [
            Route("/v1/places:searchNearby", self.search_nearby, methods=["POST"]),
            Route("/v1/places:searchText", self.search_text, methods=["POST"]),
            *control_routes(self.state, GooglePlacesSettings, on_reset=self._reset),
        ]
        self.app = Starlette(routes=routes)

    @property
    def settings(self) -> GooglePlacesSettings:
        return self.state.settings

    @property
    def places(self) -> tuple[FakePlace, ...]:
        if self.settings.labelled_set:
            from tests.fakes.labelled_places import labelled_set  # it builds on this module

            return labelled_set(self.data).places
        return google_places(self.data)

    def _reset(self) -> None:
        self.accepted.clear()
        self.page_tokens.clear()

    def _quota_exceeded(self, key: str, now: float) -> bool:
        limit = self.settings.quota_per_minute
        if limit is None:
            return False
        window = self.accepted[key]
        while window and window[0] <= now - self.settings.quota_window_s:
            window.popleft()
        return len(window) >= limit

    async def _authorised_body(
        self, request: Request, started: float, response_fields: tuple[str, ...]
    ) -> tuple[str, MaskTree | None, object] | Response:
        """The key, field mask and JSON body of a call, or the error the real API answers."""
        record = self.state.record
        key = request.headers.get("x-goog-api-key") or request.query_params.get("key") or ""
        if not key:
            record(request, started, 403, "bad_key")
            return google_error(
                403,
                "The request is missing a valid API key.",
                _error_info("API_KEY_MISSING"),
            )
        if key != self.settings.api_key:
            record(request, started, 403, "bad_key")
            return google_error(
                403, "API key not valid. Please pass a valid API key.", _error_info("API_KEY_INVALID")
            )
        mask_header = request.headers.get("x-goog-fieldmask") or request.query_params.get("fields")
        if not mask_header:
            record(request, started, 400, "no_field_mask")
            return google_error(
                400,
                "FieldMask is a required parameter. See https://cloud.google.com/apis/docs/system-parameters "
                "on how to provide it. As an example, you can set the header 'X-Goog-FieldMask' to value "
                "'places.displayName,places.id' to ask for the display name and the id of each place.",
            )
        try:
            mask = parse_field_mask(mask_header, response_fields)
        except InvalidArgument as exc:
            record(request, started, 400, "bad_request", detail={"error": str(exc)})
            return google_error(400, str(exc))
        raw = await request.body()
        try:
            body = json.loads(raw or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            message = f"Invalid JSON payload received. {exc}"
            record(request, started, 400, "bad_request", detail={"error": message})
            return google_error(400, message)
        return key, mask, body

    def _quota_response(self, request: Request, started: float, method: str) -> Response:
        self.state.record(request, started, 429, "quota")
        return google_error(
            429,
            f"Quota exceeded for quota metric '{method} requests' and limit '{method} requests per "
            "minute' of service 'places.googleapis.com' for consumer 'project_number:000000000000'.",
            _error_info("RATE_LIMIT_EXCEEDED"),
        )

    async def search_text(self, request: Request) -> Response:
        started = time.time()
        record = self.state.record
        checked = await self._authorised_body(request, started, TEXT_RESPONSE_FIELDS)
        if isinstance(checked, Response):
            return checked
        key, mask, body = checked
        try:
            text = parse_text_request(body)
            offset = self.page_tokens.offset_for(text, time.monotonic())
        except InvalidArgument as exc:
            record(request, started, 400, "bad_request", detail={"error": str(exc)})
            return google_error(400, str(exc))
        now = time.monotonic()
        if self._quota_exceeded(key, now):
            return self._quota_response(request, started, "SearchText")
        fault = self.state.take_fault()
        if fault is not None and fault.delay_s:
            await anyio.sleep(fault.delay_s)
        if self.settings.latency_s:
            await anyio.sleep(self.settings.latency_s)
        matching = search_text(self.places, text)
        page = matching[offset : offset + text.page_size]
        if fault is not None and fault.kind != "slow":
            places = [p.to_json(text.language_code) for p in page]
            return self._fault_response(request, started, fault, places, mask)
        self.accepted[key].append(now)
        payload: dict[str, Any] = {}
        if page:
            payload["places"] = [p.to_json(text.language_code) for p in page]
        if offset + len(page) < len(matching):
            payload["nextPageToken"] = self.page_tokens.issue(text, offset + len(page), now)
        detail = {"rectangle": text.rectangle, "offset": offset, "ids": [place.id for place in page]}
        outcome = "ok" if fault is None else "fault:slow"
        record(request, started, 200, outcome, elements=len(page), detail=detail)
        return JSONResponse(apply_mask(payload, mask), media_type=JSON_TYPE)

    async def search_nearby(self, request: Request) -> Response:
        started = time.time()
        record = self.state.record
        checked = await self._authorised_body(request, started, RESPONSE_FIELDS)
        if isinstance(checked, Response):
            return checked
        key, mask, body = checked
        try:
            nearby = parse_nearby_request(body)
        except InvalidArgument as exc:
            record(request, started, 400, "bad_request", detail={"error": str(exc)})
            return google_error(400, str(exc))

        now = time.monotonic()
        if self._quota_exceeded(key, now):
            return self._quota_response(request, started, "SearchNearby")
        fault = self.state.take_fault()
        if fault is not None and fault.delay_s:
            await anyio.sleep(fault.delay_s)
        if self.settings.latency_s:
            await anyio.sleep(self.settings.latency_s)
        found = search_nearby(self.places, nearby)
        detail = {
            "circle": [nearby.latitude, nearby.longitude, nearby.radius_m],
            "max_result_count": nearby.max_result_count,
            "included_types": sorted(nearby.included_types),
            "ids": [place.id for place in found],
        }
        if fault is not None and fault.kind != "slow":
            places = [p.to_json(nearby.language_code) for p in found]
            return self._fault_response(request, started, fault, places, mask)
        self.accepted[key].append(now)
        payload = apply_mask({"places": [p.to_json(nearby.language_code) for p in found]}, mask)
        outcome = "ok" if fault is None else "fault:slow"
        record(request, started, 200, outcome, elements=len(found), detail=detail)
        return JSONResponse(payload if found else {}, media_type=JSON_TYPE)

    def _fault_response(
        self,
        request: Request,
        started: float,
        fault: GooglePlacesFault,
        places: list[dict[str, Any]],
        mask: MaskTree | None,
    ) -> Response:
        record = self.state.record
        outcome = f"fault:{fault.kind}"
        if fault.kind == "rate_limited":
            record(request, started, 429, outcome)
            return google_error(429, "Resource has been exhausted (e.g. check quota).")
        if fault.kind == "internal":
            record(request, started, 500, outcome)
            return google_error(500, "Internal error encountered.")
        if fault.kind == "unavailable":
            record(request, started, 503, outcome)
            return google_error(503, "The service is currently unavailable.")
        if fault.kind == "http_error":
            record(request, started, fault.status, outcome)
            return google_error(fault.status, f"The fake answers {fault.status} as told.")
        payload = apply_mask({"places": places}, mask)
        body = json.dumps(payload, indent=2).encode()
        record(request, started, 200, outcome)
        if fault.kind == "truncated":
            return Response(body[: max(1, len(body) // 2)], media_type=JSON_TYPE)
        assert fault.kind == "disconnect"
        return disconnecting_response(body, JSON_TYPE)


def build_app(extract_path: Path | None = None, settings: GooglePlacesSettings | None = None) -> Starlette:
    return GooglePlacesApp(load_osm_data(extract_path), settings or GooglePlacesSettings()).app


class GooglePlacesFake(FakeHandle[GooglePlacesFault]):
    """A running fake Places API (New) (see the module docstring)."""

    def __init__(self, url: str, fault_type: type[GooglePlacesFault], stop: Any, api_key: str) -> None:
        super().__init__(url, fault_type, stop)
        self.api_key = api_key

    @property
    def search_nearby_url(self) -> str:
        return f"{self.url}/v1/places:searchNearby"

    @property
    def search_text_url(self) -> str:
        return f"{self.url}/v1/places:searchText"

    def billable_calls(self) -> list[RequestRecord]:
        """Calls that returned places (what the real API would bill)."""
        return [r for r in self.requests if r.status == 200 and r.outcome in ("ok", "fault:slow")]

    @classmethod
    @contextlib.contextmanager
    def running(
        cls,
        extract_path: Path | None = None,
        *,
        in_process: bool = True,
        settings: GooglePlacesSettings | None = None,
        **overrides: Any,
    ) -> Iterator[GooglePlacesFake]:
        """Start a fake on a free port of 127.0.0.1; `overrides` are `GooglePlacesSettings` fields."""
        merged = GooglePlacesSettings.model_validate(
            {**(settings or GooglePlacesSettings()).model_dump(), **overrides}
        )
        args = ["--settings-json", merged.model_dump_json()]
        if extract_path is not None:
            args += ["--extract", str(extract_path)]
        with running_fake(
            lambda url, stop: cls(url, GooglePlacesFault, stop, merged.api_key),
            lambda: build_app(extract_path, merged),
            "tests.fakes.google_places",
            args,
            in_process,
        ) as fake:
            yield fake


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Google Places API (New) Nearby Search test server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port (the URL is printed)")
    parser.add_argument(
        "--extract", type=Path, default=None, help="an .osm.pbf (default: the Helsinki extract)"
    )
    parser.add_argument("--settings-json", default=None, help="GooglePlacesSettings as JSON")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--quota-per-minute", type=int, default=None)
    parser.add_argument("--latency-s", type=float, default=None)
    args = parser.parse_args(argv)
    values: dict[str, Any] = json.loads(args.settings_json) if args.settings_json else {}
    for name in ("api_key", "quota_per_minute", "latency_s"):
        if getattr(args, name) is not None:
            values[name] = getattr(args, name)
    serve_forever(build_app(args.extract, GooglePlacesSettings.model_validate(values)), args.port, args.host)


if __name__ == "__main__":
    main()
