"""The Overpass API client: one QL query per tile, through the shared limiter, never partial data.

    client = OverpassClient(http, limiter, url=settings.overpass_url, user_agent=settings.user_agent,
                            timeout_s=25, maxsize_bytes=256 * 2**20)
    places = await client.fetch(tile_ring_lonlat, ("cafe", "bar"))

What each answer becomes (DESIGN.md, "Upstream facts"):

| answer | raised | the caller |
| --- | --- | --- |
| 200 JSON, no remark | (places returned) | clips by centre, stores |
| 200 JSON with a "runtime error" remark (timeout, out of memory) | `TileTooLarge` | splits the tile |
| 200 JSON with another remark, non-JSON, HTML, bad shape | `UpstreamError` | retries later |
| 200 with cut-off JSON, 504, timeout, dropped connection | `AnswerIncomplete` | retries; splits the cell on a second one in a row |
| 429 | `UpstreamThrottled`, after a shared pause of at least `pause_min_s` | retries after the pause |
| 502, 503, 504, other 5xx, timeout, dropped connection | `UpstreamError` | backs off, retries |
| 400, 403, 406, other 4xx | `UpstreamRejected` with the server's message | fails the job |

Ways and relations come with Overpass's `out center` point; clipping to the area is the caller's.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Literal

import httpx
from opentelemetry.trace import Span
from pydantic import BaseModel, ConfigDict, ValidationError
from shapely.geometry import Polygon

from areafetch.areas import Place
from areafetch.areas.attributes import osm_attributes
from areafetch.areas.categories import category_for_osm_tags
from areafetch.errors import UpstreamError, UpstreamRejected, UpstreamThrottled
from areafetch.metrics import count_upstream_call
from areafetch.providers._common import ThrottleTracker, retry_after_s, text_of
from areafetch.providers._osm import osm_tag_pairs
from areafetch.tracing import record_answer, upstream_span

if TYPE_CHECKING:
    from areafetch.ratelimit import Limiter

__all__ = ["AnswerIncomplete", "CellPlaces", "OverpassClient", "TileTooLarge", "build_query", "osm_tag_pairs"]

log = logging.getLogger(__name__)

OVERPASS_PAUSE_MIN_S = 30.0
"""Overpass's operators ask for at least this long a wait after a 429."""
# How much longer than the query's own [timeout:] the HTTP exchange may take (queueing, transfer).
_HTTP_GRACE_S = 15.0


class TileTooLarge(UpstreamError):
    """Overpass ran out of time or memory on this tile (a "runtime error" remark): split it and retry."""


NEAR_MAXSIZE_SHARE = 0.9
"""An answer at least this share of the query's `[maxsize:]` is near the server's limit."""


class CellPlaces(list[Place]):
    """The places of one answer, and whether the answer came near the query's `[maxsize:]` (the cell
    was answered, but a denser one would not be: evidence for planning the next area)."""

    near_maxsize: bool = False


class AnswerIncomplete(UpstreamError):
    """No complete answer: a 504, a timeout, a body cut off or dropped. The server may be busy, or the
    cell too heavy for it; a cell that gets this twice in a row is split (`processors.overpass_cells`)."""


# --- the query -------------------------------------------------------------------------------------


def _ql_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _coordinate(value: float) -> str:
    text = f"{round(value, 7):.7f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _ring_lonlat(polygon: Polygon | Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    if isinstance(polygon, Polygon):
        coords = [(float(x), float(y)) for x, y, *_ in polygon.exterior.coords]
    else:
        coords = [(float(lon), float(lat)) for lon, lat in polygon]
    if len(coords) > 1 and coords[0] == coords[-1]:
        coords = coords[:-1]  # Overpass closes the ring itself
    if len(coords) < 3:
        raise ValueError("a polygon needs at least 3 distinct corners")
    for lon, lat in coords:
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValueError(f"coordinate out of range: lon={lon}, lat={lat}")
    return coords


def build_query(
    polygon: Polygon | Sequence[tuple[float, float]],
    categories: Iterable[str],
    *,
    timeout_s: int,
    maxsize_bytes: int,
) -> str:
    """The Overpass QL for the places of ``categories`` touching ``polygon`` (its exterior ring).

    One ``nwr`` statement per OSM key (its values as one anchored regular expression, or ``=`` for a
    single value), since the server reads the polygon's data once per statement; the polygon as
    ``poly:"lat lon lat lon ..."`` with 7 decimals; ``out tags center qt``: tags and the centre of
    ways and relations, no node lists or members, in the server's cheapest (quadtile) order.
    """
    pairs = osm_tag_pairs(categories)
    if not pairs:
        raise ValueError("no categories asked for")
    poly = " ".join(f"{_coordinate(lat)} {_coordinate(lon)}" for lon, lat in _ring_lonlat(polygon))
    values_by_key: dict[str, list[str | None]] = {}
    for key, value in pairs:
        values_by_key.setdefault(key, []).append(value)
    statements = "".join(
        f'nwr[{_tag_filter(key, values)}](poly:"{poly}");' for key, values in values_by_key.items()
    )
    return f"[out:json][timeout:{timeout_s}][maxsize:{maxsize_bytes}];({statements});out tags center qt;"


def _tag_filter(key: str, values: list[str | None]) -> str:
    if None in values:  # a bare key: any value, whatever else was asked of it
        return _ql_string(key)
    if len(values) == 1:
        return f"{_ql_string(key)}={_ql_string(str(values[0]))}"
    pattern = "^(" + "|".join(_ERE_SPECIAL.sub(r"\\\g<0>", str(value)) for value in values) + ")$"
    return f"{_ql_string(key)}~{_ql_string(pattern)}"


_ERE_SPECIAL = re.compile(r"[.^$*+?()\[\]{}|\\]")


# --- the answer ------------------------------------------------------------------------------------


class _Center(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    lat: float
    lon: float


class _Element(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    type: Literal["node", "way", "relation"]
    id: int
    lat: float | None = None
    lon: float | None = None
    center: _Center | None = None
    tags: dict[str, str] = {}


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    elements: list[_Element]
    remark: str | None = None


def _parse(body: bytes, content_type: str) -> _Answer:
    """The answer as a model; a non-JSON, cut-off or malformed body raises `UpstreamError`."""
    if "html" in content_type.lower() or body.lstrip()[:1] == b"<":
        raise UpstreamError(f"overpass answered 200 with an HTML page: {text_of(body)}")
    try:
        raw = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AnswerIncomplete(
            f"overpass answered 200 with a body that is not complete JSON ({len(body)} bytes): {exc}"
        ) from exc
    try:
        return _Answer.model_validate(raw)
    except ValidationError as exc:
        raise UpstreamError(
            f"overpass answered 200 with JSON of an unexpected shape: "
            f"{exc.error_count()} errors, first: {exc.errors()[0]['msg']} at {exc.errors()[0]['loc']}"
        ) from exc


def _places(answer: _Answer, categories: tuple[str, ...]) -> list[Place]:
    places: list[Place] = []
    for element in answer.elements:
        if element.type == "node":
            lat, lon = element.lat, element.lon
        elif element.center is not None:
            lat, lon = element.center.lat, element.center.lon
        else:
            lat = lon = None
        if lat is None or lon is None:
            continue  # a way or relation Overpass could not place
        category = category_for_osm_tags(element.tags, categories)
        if category is None:
            continue
        places.append(
            Place(
                source="overpass",
                source_id=f"{element.type}/{element.id}",
                name=element.tags.get("name"),
                category=category,
                lon=lon,
                lat=lat,
                attributes=osm_attributes(element.tags),
            )
        )
    return places


# --- the client ------------------------------------------------------------------------------------


class OverpassClient:
    """Fetches the places of some categories in one polygon from an Overpass API interpreter.

    Every request goes through ``limiter.acquire()``; a 429 pauses the limiter for every worker.
    One instance per worker process is enough (it tracks throttles in a row for the backoff).

    Args:
        http: the shared async HTTP client (connection pool); its own headers are not relied on.
        limiter: the shared Overpass limiter.
        url: the interpreter endpoint, e.g. ``https://overpass-api.de/api/interpreter``.
        user_agent: names the application and a contact; Overpass answers 406 without one.
        timeout_s: the query's ``[timeout:]``; the HTTP exchange may take ``_HTTP_GRACE_S`` more.
        maxsize_bytes: the query's ``[maxsize:]`` (server memory).
        pause_min_s: the shortest shared pause after a 429 (Overpass: 30 s; tests use less).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        limiter: Limiter,
        *,
        url: str,
        user_agent: str,
        timeout_s: float,
        maxsize_bytes: int,
        pause_min_s: float = OVERPASS_PAUSE_MIN_S,
    ) -> None:
        if not user_agent.strip():
            raise ValueError("Overpass requires a User-Agent that names the application and a contact")
        if not timeout_s > 0:
            raise ValueError("timeout_s must be > 0")
        if maxsize_bytes < 1:
            raise ValueError("maxsize_bytes must be >= 1")
        self._http = http
        self._limiter = limiter
        self._url = url
        self._user_agent = user_agent
        self._timeout_s = timeout_s
        self._maxsize_bytes = maxsize_bytes
        self._throttle = ThrottleTracker(limiter, minimum_s=pause_min_s)

    def __repr__(self) -> str:
        return f"OverpassClient(url={self._url!r}, limiter={self._limiter.name!r})"

    @property
    def url(self) -> str:
        return self._url

    @property
    def limiter(self) -> Limiter:
        return self._limiter

    def query_for(
        self, polygon_lonlat: Polygon | Sequence[tuple[float, float]], categories: tuple[str, ...]
    ) -> str:
        """The QL this client sends for a polygon and categories."""
        return build_query(
            polygon_lonlat,
            categories,
            timeout_s=max(1, math.ceil(self._timeout_s)),
            maxsize_bytes=self._maxsize_bytes,
        )

    async def fetch(
        self, polygon_lonlat: Polygon | Sequence[tuple[float, float]], categories: tuple[str, ...]
    ) -> CellPlaces:
        """The places of ``categories`` whose element touches the polygon, all or nothing.

        Args:
            polygon_lonlat: the tile, a shapely Polygon or its exterior ring as (lon, lat) pairs
                (holes are ignored: clipping is the caller's).
            categories: names from `areafetch.areas.categories.CATEGORIES`.

        Returns:
            Places in Overpass's order; ways and relations at their ``out center`` point,
            possibly outside the polygon (clip by centre).

        Raises:
            TileTooLarge: Overpass hit its time or memory limit; split the tile.
            UpstreamThrottled: 429, after pausing the limiter.
            UpstreamRejected: 4xx; retrying the same query cannot help.
            UpstreamError: 5xx, timeouts, dropped connections, bodies that are not complete JSON.
            LimiterTimeout, BudgetExhausted: from the limiter, before any request.
        """
        query = self.query_for(polygon_lonlat, categories)
        with upstream_span("overpass", self._url) as span:
            return await self._fetch(query, categories, span)

    async def _fetch(self, query: str, categories: tuple[str, ...], span: Span) -> CellPlaces:
        started = time.monotonic()
        async with self._limiter.acquire():
            try:
                response = await self._http.post(
                    self._url,
                    data={"data": query},
                    headers={"User-Agent": self._user_agent, "Accept": "application/json"},
                    timeout=self._timeout_s + _HTTP_GRACE_S,
                )
            except httpx.TimeoutException as exc:
                count_upstream_call("overpass", "timeout")
                raise AnswerIncomplete(
                    f"overpass timed out after {time.monotonic() - started:.1f} s"
                ) from exc
            except httpx.RemoteProtocolError as exc:
                count_upstream_call("overpass", "error")
                raise AnswerIncomplete(f"overpass dropped the connection: {exc}") from exc
            except httpx.HTTPError as exc:
                count_upstream_call("overpass", "error")
                raise UpstreamError(f"overpass request failed: {type(exc).__name__}: {exc}") from exc
            # Paused while the lease is still held, so that no other worker's call leaves between
            # this 429 and the pause (the server bans a call that comes within its penalty time).
            pause_s = (
                await self._throttle.throttled(retry_after_s(response))
                if response.status_code == 429
                else 0.0
            )
        count_upstream_call("overpass", response.status_code)
        body = response.content
        record_answer(span, response.status_code, len(body))
        await self._limiter.record_bytes(len(body))
        elapsed_s = time.monotonic() - started
        status = response.status_code
        if status == 200:
            answer = _parse(body, response.headers.get("content-type", ""))
            if answer.remark is not None:
                remark = answer.remark.strip()[:500]
                if "runtime error" in remark.lower():
                    log.info("overpass remark, tile too large: %s (%.2f s)", remark, elapsed_s)
                    raise TileTooLarge(f"overpass: {remark}")
                raise UpstreamError(f"overpass answered with a remark, data may be partial: {remark}")
            self._throttle.succeeded()
            places = CellPlaces(_places(answer, categories))
            places.near_maxsize = len(body) >= NEAR_MAXSIZE_SHARE * self._maxsize_bytes
            log.debug(
                "%6.2fs overpass %d elements -> %d places, %d bytes",
                elapsed_s,
                len(answer.elements),
                len(places),
                len(body),
            )
            return places
        message = text_of(body)
        if status == 429:
            raise UpstreamThrottled(
                f"overpass 429 Too Many Requests; limiter paused {pause_s:.1f} s: {message}",
                retry_after_s=pause_s,
            )
        if 400 <= status < 500:
            raise UpstreamRejected(f"overpass {status} {response.reason_phrase}: {message}")
        if status == 504:
            raise AnswerIncomplete(f"overpass {status} {response.reason_phrase}: {message}")
        raise UpstreamError(f"overpass {status} {response.reason_phrase}: {message}")
