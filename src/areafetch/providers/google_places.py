"""The Google Places API (New) client: Nearby Search (one circle per call, at most 20 places) and
Text Search (one type in a rectangle per query, pages of 20, at most 60).

    client = GooglePlacesClient(http, limiter, base_url=settings.google_places_url,
                                api_key=settings.google_api_key, timeout_s=10)
    result = await client.search_nearby(24.94, 60.17, 500, ("cafe",))
    if result.capped:
        ...  # 20 places came back: there may be more, split the circle

What each answer becomes (DESIGN.md, "Upstream facts"):

| answer | raised | the caller |
| --- | --- | --- |
| 200 with places (or `{}`) | (`NearbyResult` returned) | stores; splits the circle when `capped` |
| 429 RESOURCE_EXHAUSTED | `UpstreamThrottled`, after a shared pause | retries after the pause |
| 400, 401, 403, 404 and other 4xx | `UpstreamRejected` with Google's message | fails the job at once |
| 5xx, timeout, dropped connection, malformed 200 | `UpstreamError` | backs off, retries |

The API key travels only in the `X-Goog-Api-Key` header. It is kept as a `SecretStr`, never
formatted into a message, a log line or a repr, and scrubbed from any text the server sends back.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any, Final

import httpx
from opentelemetry.trace import Span
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from areafetch.areas import Place
from areafetch.areas.attributes import google_attributes
from areafetch.areas.categories import category_for_google_types, google_types
from areafetch.areas.google_prices import GoogleFields
from areafetch.errors import UpstreamError, UpstreamRejected, UpstreamThrottled
from areafetch.metrics import count_upstream_call
from areafetch.providers._common import ThrottleTracker, retry_after_s, text_of
from areafetch.tracing import record_answer, upstream_span

if TYPE_CHECKING:
    from areafetch.ratelimit import Limiter

__all__ = [
    "FIELD_MASK",
    "FIELD_MASKS",
    "MAX_RADIUS_M",
    "MAX_RESULTS",
    "GooglePlacesClient",
    "NearbyResult",
    "TextPage",
    "google_types",
]

log = logging.getLogger(__name__)

_PRO_FIELDS: Final = (
    "id",
    "displayName",
    "location",
    "types",
    "primaryType",
    "addressComponents",
    "businessStatus",
    "accessibilityOptions",
)
_ENTERPRISE_FIELDS: Final = (
    "websiteUri",
    "internationalPhoneNumber",
    "regularOpeningHours",
    "rating",
    "userRatingCount",
    "priceLevel",
)
FIELD_MASKS: Final[dict[str, str]] = {
    "pro": ",".join(f"places.{field}" for field in _PRO_FIELDS),
    "enterprise": ",".join(f"places.{field}" for field in _PRO_FIELDS + _ENTERPRISE_FIELDS),
}
"""`AREAFETCH_GOOGLE_FIELDS` -> the field mask: every field of the tier is billed as that tier's SKU
(Nearby Search Pro / Enterprise: `areas.google_prices.nearby_sku`)."""
FIELD_MASK: Final = FIELD_MASKS["pro"]
MAX_RESULTS: Final = 20
"""Nearby Search returns at most this many places and has no paging."""
MAX_RADIUS_M: Final = 50_000.0
GOOGLE_PAUSE_MIN_S: Final = 5.0
_SEARCH_NEARBY_PATH: Final = "/v1/places:searchNearby"
_SEARCH_TEXT_PATH: Final = "/v1/places:searchText"
_REDACTED: Final = "[redacted]"


class NearbyResult(BaseModel):
    """One Nearby Search answer.

    Attributes:
        places: the places of the wanted categories in the circle.
        capped: the API returned its maximum of 20: there may be more; split the circle.
        returned: (lon, lat) of every place the API returned, of a wanted category or not: with
            DISTANCE ranking the farthest of them bounds the disc the answer proves complete.
    """

    model_config = ConfigDict(frozen=True)

    places: list[Place]
    capped: bool
    returned: list[tuple[float, float]] = []


class TextPage(BaseModel):
    """One page of a Text Search answer.

    Attributes:
        places: the places of the wanted categories on the page.
        returned: (lon, lat) of every place on the page, of a wanted category or not.
        next_page_token: the token of the next page (usable after a short delay), None on the last.
    """

    model_config = ConfigDict(frozen=True)

    places: list[Place]
    returned: list[tuple[float, float]] = []
    next_page_token: str | None = None


# --- the answer ------------------------------------------------------------------------------------


class _LatLng(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class _LocalizedText(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    text: str = ""
    languageCode: str | None = None


class _Place(BaseModel):
    """What areafetch reads of a place; the richer fields are kept as Google sends them (`extra`)
    and normalised by `areas.attributes.google_attributes`."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str = Field(min_length=1, max_length=256)
    displayName: _LocalizedText | None = None
    location: _LatLng
    types: list[str] = []
    primaryType: str | None = None
    rating: float | None = Field(default=None, ge=0, le=5)
    userRatingCount: int | None = Field(default=None, ge=0)
    priceLevel: str | None = Field(default=None, max_length=64)
    businessStatus: str | None = Field(default=None, max_length=64)
    websiteUri: str | None = Field(default=None, max_length=2048)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    places: list[_Place] = []
    nextPageToken: str | None = Field(default=None, min_length=1, max_length=4096)


class _ErrorBody(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    code: int | None = None
    message: str = ""
    status: str = ""


class _ErrorAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    error: _ErrorBody


# --- the client ------------------------------------------------------------------------------------


class GooglePlacesClient:
    """Searches one circle at a time with Places API (New) Nearby Search.

    Every call goes through ``limiter.acquire()`` (each one is billable); a 429 pauses the
    limiter for every worker.

    Args:
        http: the shared async HTTP client.
        limiter: the shared Google Places limiter.
        base_url: the API's base URL, e.g. ``https://places.googleapis.com``.
        api_key: the key; only ever sent in the ``X-Goog-Api-Key`` header.
        timeout_s: the HTTP timeout of one call.
        pause_min_s: the shortest shared pause after a 429 (it doubles with each in a row).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        limiter: Limiter,
        *,
        base_url: str,
        api_key: SecretStr,
        timeout_s: float,
        pause_min_s: float = GOOGLE_PAUSE_MIN_S,
        fields: GoogleFields = "pro",
    ) -> None:
        if not api_key.get_secret_value():
            raise ValueError("a Google API key is required")
        if not timeout_s > 0:
            raise ValueError("timeout_s must be > 0")
        self._http = http
        self._limiter = limiter
        self._url = base_url.rstrip("/") + _SEARCH_NEARBY_PATH
        self._text_url = base_url.rstrip("/") + _SEARCH_TEXT_PATH
        self._api_key = api_key
        self._timeout_s = timeout_s
        self._throttle = ThrottleTracker(limiter, minimum_s=pause_min_s)
        self._field_mask = FIELD_MASKS[fields]

    def __repr__(self) -> str:
        return f"GooglePlacesClient(url={self._url!r}, limiter={self._limiter.name!r}, api_key={_REDACTED!r})"

    def _scrub(self, text: str) -> str:
        key = self._api_key.get_secret_value()
        return text.replace(key, _REDACTED) if key else text

    @staticmethod
    def request_body(lon: float, lat: float, radius_m: float, categories: tuple[str, ...]) -> dict[str, Any]:
        """The JSON body of one Nearby Search call."""
        return {
            "includedTypes": google_types(categories),
            "maxResultCount": MAX_RESULTS,
            "locationRestriction": {
                "circle": {"center": {"latitude": lat, "longitude": lon}, "radius": radius_m}
            },
            "rankPreference": "DISTANCE",
        }

    async def search_nearby(
        self, lon: float, lat: float, radius_m: float, categories: tuple[str, ...]
    ) -> NearbyResult:
        """The places of ``categories`` within ``radius_m`` of a point, nearest first, at most 20.

        Raises:
            UpstreamThrottled: 429 RESOURCE_EXHAUSTED, after pausing the limiter.
            UpstreamRejected: 4xx (bad request, bad key, ...); retrying cannot help.
            UpstreamError: 5xx, timeouts, dropped connections, malformed answers.
            LimiterTimeout, BudgetExhausted: from the limiter, before any request.
            ValueError: a radius outside (0, 50 km], coordinates out of range, no categories.
        """
        if not 0 < radius_m <= MAX_RADIUS_M:
            raise ValueError(f"radius_m must be in (0, {MAX_RADIUS_M:g}], got {radius_m}")
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValueError(f"coordinate out of range: lon={lon}, lat={lat}")
        body = self.request_body(lon, lat, radius_m, categories)
        if not body["includedTypes"]:
            raise ValueError("no categories asked for")
        answer = await self._ask(self._url, body, self._field_mask)
        result = NearbyResult(
            places=self._places(answer, categories),
            capped=len(answer.places) >= MAX_RESULTS,
            returned=_positions(answer),
        )
        log.debug(
            "google places nearby r=%.0fm -> %d places%s",
            radius_m,
            len(result.places),
            " (capped)" if result.capped else "",
        )
        return result

    @staticmethod
    def text_request_body(
        bbox: tuple[float, float, float, float], google_type: str, page_token: str | None = None
    ) -> dict[str, Any]:
        """The JSON body of one Text Search page: one Table A type, strictly, in a rectangle."""
        west, south, east, north = bbox
        body: dict[str, Any] = {
            "textQuery": google_type,
            "includedType": google_type,
            "strictTypeFiltering": True,
            "pageSize": MAX_RESULTS,
            "locationRestriction": {
                "rectangle": {
                    "low": {"latitude": south, "longitude": west},
                    "high": {"latitude": north, "longitude": east},
                }
            },
        }
        if page_token is not None:
            body["pageToken"] = page_token
        return body

    async def search_text(
        self,
        bbox: tuple[float, float, float, float],
        google_type: str,
        categories: tuple[str, ...],
        *,
        page_token: str | None = None,
    ) -> TextPage:
        """One page of the places of a Google type within a rectangle (west, south, east, north).

        Raises: as `search_nearby`; a page token asked for too early is Google's 400 (UpstreamRejected).
        """
        west, south, east, north = bbox
        if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
            raise ValueError(f"rectangle out of range: {bbox}")
        if google_type not in google_types(categories):
            raise ValueError(f"{google_type!r} is not a type of the categories {categories}")
        body = self.text_request_body(bbox, google_type, page_token)
        answer = await self._ask(self._text_url, body, self._field_mask + ",nextPageToken")
        page = TextPage(
            places=self._places(answer, categories),
            returned=_positions(answer),
            next_page_token=answer.nextPageToken,
        )
        log.debug(
            "google places text %s -> %d places%s",
            google_type,
            len(page.places),
            " (more)" if page.next_page_token else "",
        )
        return page

    async def _ask(self, url: str, body: dict[str, Any], field_mask: str) -> _Answer:
        """One billed call in its span: the parsed answer of a 200, else the error it maps to."""
        with upstream_span("google_places", url) as span:
            return self._answer(await self._post(url, body, field_mask, span))

    async def _post(self, url: str, body: dict[str, Any], field_mask: str, span: Span) -> bytes:
        """One billed call through the limiter: the body of a 200, else the error it maps to."""
        started = time.monotonic()
        async with self._limiter.acquire():
            try:
                response = await self._http.post(
                    url,
                    json=body,
                    headers={
                        "X-Goog-Api-Key": self._api_key.get_secret_value(),
                        "X-Goog-FieldMask": field_mask,
                    },
                    timeout=self._timeout_s,
                )
            except httpx.TimeoutException as exc:
                count_upstream_call("google_places", "timeout")
                raise UpstreamError(
                    f"google places timed out after {time.monotonic() - started:.1f} s"
                ) from None if self._leaks(exc) else exc
            except httpx.HTTPError as exc:
                count_upstream_call("google_places", "error")
                raise UpstreamError(
                    f"google places request failed: {type(exc).__name__}: {self._scrub(str(exc))}"
                ) from None if self._leaks(exc) else exc
            # Paused while the lease is still held: no other worker's call leaves between the 429 and it.
            pause_s = (
                await self._throttle.throttled(retry_after_s(response))
                if response.status_code == 429
                else 0.0
            )
        status = response.status_code
        count_upstream_call("google_places", status)
        record_answer(span, status, len(response.content))
        if status == 200:
            self._throttle.succeeded()
            return response.content
        message = self._error_message(response)
        if status == 429:
            raise UpstreamThrottled(
                f"google places 429: {message}; limiter paused {pause_s:.1f} s", retry_after_s=pause_s
            )
        if 400 <= status < 500:
            raise UpstreamRejected(f"google places {status}: {message}")
        raise UpstreamError(f"google places {status}: {message}")

    def _leaks(self, exc: BaseException) -> bool:
        """Whether an exception's text holds the key (then it is not chained)."""
        key = self._api_key.get_secret_value()
        return bool(key) and key in repr(exc) + str(exc)

    @staticmethod
    def _answer(content: bytes) -> _Answer:
        try:
            return _Answer.model_validate_json(content)
        except ValidationError as exc:
            errors = exc.errors(include_input=False, include_url=False)
            raise UpstreamError(
                f"google places answered 200 with a malformed body ({len(content)} bytes): "
                f"{exc.error_count()} errors, first: {errors[0]['msg']} at {errors[0]['loc']}"
            ) from None

    @staticmethod
    def _places(answer: _Answer, categories: tuple[str, ...]) -> list[Place]:
        places: list[Place] = []
        for place in answer.places:
            category = category_for_google_types(place.types, categories)
            if category is None:
                log.debug("google place %s has none of the wanted types: %s", place.id, place.types)
                continue
            attributes = google_attributes(place.model_dump(exclude_none=True))
            places.append(
                Place(
                    source="google_places",
                    source_id=place.id,
                    name=place.displayName.text if place.displayName and place.displayName.text else None,
                    category=category,
                    lon=place.location.longitude,
                    lat=place.location.latitude,
                    attributes=attributes,
                )
            )
        return places

    def _error_message(self, response: httpx.Response) -> str:
        """``STATUS: message`` from Google's error JSON, else the body's text; the key scrubbed."""
        try:
            error = _ErrorAnswer.model_validate(json.loads(response.content)).error
        except (ValueError, ValidationError):
            text = text_of(response.content)
        else:
            text = f"{error.status}: {error.message}" if error.status else error.message
            text = text_of(text)
        return self._scrub(text or response.reason_phrase)


def _positions(answer: _Answer) -> list[tuple[float, float]]:
    return [(place.location.longitude, place.location.latitude) for place in answer.places]
