"""Google calls per area: the method chosen per area (`AREAFETCH_GOOGLE_METHOD=auto`) against the
Nearby DISTANCE cover and planned Text Search rectangles forced, the 7-way split of before, a fixed
grid of small circles and Text Search without a plan, on generated regions, against the fake
Places API.

    python -m bench google_calls

Each region is a generated extract (named cafés and restaurants, some beyond the region's edge,
as a real city's are) served by `tests.fakes.google_places`. What is "known" before the fetch is
an OpenStreetMap stand-in: a random 75 % of the places. Every strategy goes through the real
`GooglePlacesClient` (Nearby Search and Text Search) and one real Redis limiter set under the
fake's quota, so a 429 would show. Per strategy and region: calls, the floor
⌈places / 20⌉, places found in the region and completeness, duplicates (places returned again),
wall time and list price.

AREAFETCH_BENCH_REDIS_URL   the Redis of the limiter (default local db 0; keys in a namespace of the run)
"""

from __future__ import annotations

import asyncio
import math
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import numpy as np
import osmium
import osmium.osm.mutable
import redis.asyncio as aioredis
import shapely
from pydantic import SecretStr
from tests.fakes.google_places import GooglePlacesFake

from areafetch.geo import Circle, cover_with_circles, split_circle
from areafetch.geo._cover import nearby_call_range
from areafetch.geo._text_cover import OSM_PROXY_FILL, TextRectangle
from areafetch.processors.google_cover import GoogleSearches, KnownPlaces, choose_method, fetch_circle_region
from areafetch.providers.google_places import GooglePlacesClient, NearbyResult, TextPage
from areafetch.ratelimit import Limiter, LimitPolicy
from bench._infra import REDIS_URL
from bench._report import Figure, Report, at_least, at_most, save

LON0, LAT0 = 24.94, 60.17
CATEGORIES = ("cafe", "restaurant")
GOOGLE_TYPES = ("cafe", "restaurant")
# List prices, USD per 1,000 billed calls (Google Maps Platform, Places API (New), Pro tier).
NEARBY_PRO_USD_PER_1000 = 32.0
TEXT_PRO_USD_PER_1000 = 32.0
FAKE_QUOTA_PER_MINUTE = 6000
POLICY = LimitPolicy(rate_per_s=80.0, burst=20, max_in_flight=8, max_wait_s=120.0)  # 20 + 60·80 < 6000
GRID_RADIUS_M = 250.0
SPLIT_DEPTH = 5
TEXT_PAGE_DELAY_S = 0.2  # the fake's token delay here; Google's is about 2 s


@dataclass(frozen=True)
class Region:
    name: str
    side_km: float
    points: np.ndarray  # (n, 2) lon, lat

    @property
    def polygon(self) -> shapely.Polygon:
        dx, dy = _half_side_deg(self.side_km)
        return shapely.box(LON0 - dx, LAT0 - dy, LON0 + dx, LAT0 + dy)


def _half_side_deg(side_km: float) -> tuple[float, float]:
    return side_km / 2 / (111.32 * math.cos(math.radians(LAT0))), side_km / 2 / 110.57


def regions() -> list[Region]:
    rng = np.random.default_rng(20261205)
    dx, dy = _half_side_deg(2.0)
    centre = np.column_stack([rng.normal(LON0, dx / 1.6, 4000), rng.normal(LAT0, dy / 1.6, 4000)])
    dx, dy = _half_side_deg(8.0)
    clusters = []
    for cx, cy in rng.uniform(-1.1, 1.1, (14, 2)):
        size = int(rng.integers(15, 70))
        clusters.append(
            np.column_stack(
                [rng.normal(LON0 + cx * dx, dx / 25, size), rng.normal(LAT0 + cy * dy, dy / 25, size)]
            )
        )
    scattered = np.column_stack(
        [rng.uniform(LON0 - dx * 1.2, LON0 + dx * 1.2, 60), rng.uniform(LAT0 - dy * 1.2, LAT0 + dy * 1.2, 60)]
    )
    suburb = np.vstack([*clusters, scattered])
    dx, dy = _half_side_deg(20.0)
    rural = np.column_stack(
        [rng.uniform(LON0 - dx * 1.3, LON0 + dx * 1.3, 70), rng.uniform(LAT0 - dy * 1.3, LAT0 + dy * 1.3, 70)]
    )
    return [
        Region("dense centre", 2.0, centre),
        Region("clustered suburb", 8.0, suburb),
        Region("sparse rural", 20.0, rural),
    ]


def write_extract(region: Region, path: Path) -> Path:
    writer = osmium.SimpleWriter(str(path), overwrite=True)
    try:
        for index, (lon, lat) in enumerate(region.points.tolist()):
            node_id = 950_000_000_000 + index
            kind = "cafe" if index % 3 == 0 else "restaurant"
            tags = {"amenity": kind, "name": f"{kind.title()} {index}"}
            writer.add_node(osmium.osm.mutable.Node(id=node_id, version=1, location=(lon, lat), tags=tags))
    finally:
        writer.close()
    return path


@dataclass
class Run:
    region: str
    strategy: str
    method: str
    places: int
    floor: int
    calls: int
    found: int
    duplicates: int
    throttled: int
    seconds: float
    usd: float
    estimate: tuple[int, int | None]
    """`nearby_call_range` with every place of the region known (as after a first fetch)."""

    @property
    def in_estimate(self) -> bool:
        floor, ceiling = self.estimate
        return floor <= self.calls and (ceiling is None or self.calls <= ceiling)

    @property
    def completeness(self) -> float:
        return self.found / self.places if self.places else 1.0

    @property
    def over_floor(self) -> float:
        return self.calls / self.floor if self.floor else float(self.calls)


class Counter:
    """Every place id an upstream returned, and how many calls it took."""

    def __init__(self) -> None:
        self.calls = 0
        self.returned: list[str] = []

    def add(self, ids: list[str]) -> None:
        self.calls += 1
        self.returned += ids


KNOWN_SHARE = 0.75
"""The bench's OpenStreetMap proxy knows this share of the places Google lists (a random sample)."""


def known_places(region: Region) -> KnownPlaces:
    """What a first OSM fetch would have stored around the region: a sample of its places."""
    rng = np.random.default_rng(7)
    kinds = np.array(["cafe" if index % 3 == 0 else "restaurant" for index in range(len(region.points))])
    sample = rng.random(len(region.points)) < KNOWN_SHARE
    by_category = {
        kind: [(float(lon), float(lat)) for lon, lat in region.points[sample & (kinds == kind)]]
        for kind in CATEGORIES
    }
    return KnownPlaces.of(by_category, CATEGORIES, fill=OSM_PROXY_FILL)


NOTHING_KNOWN = KnownPlaces.of({}, CATEGORIES, fill=OSM_PROXY_FILL)

CHOSEN = "chosen per area from OSM places (new)"
NEARBY = "Nearby DISTANCE cover"
TEXT = "Text Search, planned rectangles"
SPLIT_7 = "7-way split (before)"
GRID = f"grid of {GRID_RADIUS_M:.0f} m circles"
TEXT_UNPLANNED = "Text Search, one rectangle cut in 4 when capped"
STRATEGIES = (CHOSEN, NEARBY, TEXT, SPLIT_7, GRID, TEXT_UNPLANNED)


async def run_strategy(name: str, region: Region, client: GooglePlacesClient, counter: Counter) -> str:
    """Run one strategy over the region; returns the method used ("nearby" or "text")."""
    area = region.polygon

    async def nearby(circle: Circle) -> NearbyResult:
        result = await client.search_nearby(circle.lon, circle.lat, circle.radius_m, CATEGORIES)
        counter.add([place.source_id for place in result.places])
        return result

    async def text(rectangle: TextRectangle, token: str | None) -> TextPage:
        page = await client.search_text(rectangle.bbox, rectangle.google_type, CATEGORIES, page_token=token)
        counter.add([place.source_id for place in page.places])
        return page

    searches = GoogleSearches(nearby=nearby, text=text, page_delay_s=TEXT_PAGE_DELAY_S)
    if name == SPLIT_7:
        for circle in cover_with_circles(area):
            await _split(circle, area, nearby, SPLIT_DEPTH)
        return "nearby"
    if name == GRID:
        for circle in cover_with_circles(area, max_radius_m=GRID_RADIUS_M):
            await nearby(circle)
        return "nearby"
    known = NOTHING_KNOWN if name == TEXT_UNPLANNED else known_places(region)
    methods = []
    for circle in cover_with_circles(area):
        setting: Literal["auto", "nearby", "text"] = (
            "auto" if name == CHOSEN else "nearby" if name == NEARBY else "text"
        )
        method = choose_method(circle, area, known, setting)
        methods.append(method.name)
        await fetch_circle_region(circle, area, searches, method=method, known=known, max_calls=100_000)
    return "+".join(sorted(set(methods)))


async def _split(
    circle: Circle, area: Any, search: Callable[[Circle], Awaitable[NearbyResult]], depth: int
) -> None:
    result = await search(circle)
    if result.capped and depth > 0:
        for child in split_circle(circle, parts=7, area=area):
            await _split(child, area, search, depth - 1)


async def measure(region: Region, fake: GooglePlacesFake, redis_url: str) -> list[Run]:
    from tests.fakes.google_places import place_id

    inside = shapely.contains_xy(region.polygon, region.points[:, 0], region.points[:, 1])
    expected = {place_id(f"node/{950_000_000_000 + i}") for i in np.flatnonzero(inside).tolist()}
    runs = []
    redis = aioredis.Redis.from_url(redis_url)
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            for strategy in STRATEGIES:
                fake.reset()
                limiter = Limiter(
                    redis, "google_places", POLICY, namespace=f"bench-google-{uuid.uuid4().hex}"
                )
                client = GooglePlacesClient(
                    http, limiter, base_url=fake.url, api_key=SecretStr(fake.api_key), timeout_s=30
                )
                counter = Counter()
                started = time.monotonic()
                method = await run_strategy(strategy, region, client, counter)
                price = NEARBY_PRO_USD_PER_1000 if method == "nearby" else TEXT_PRO_USD_PER_1000
                seconds = time.monotonic() - started
                returned = counter.returned
                runs.append(
                    Run(
                        region=region.name,
                        strategy=strategy,
                        method=method,
                        places=len(expected),
                        floor=math.ceil(len(expected) / 20),
                        calls=counter.calls,
                        found=len(expected & set(returned)),
                        duplicates=len(returned) - len(set(returned)),
                        throttled=sum(1 for r in fake.requests if r.status == 429),
                        seconds=seconds,
                        usd=counter.calls * price / 1000,
                        estimate=nearby_call_range(len(expected), len(cover_with_circles(region.polygon))),
                    )
                )
                print(_row(runs[-1]), flush=True)
    finally:
        await redis.aclose()
    return runs


def _row(run: Run) -> str:
    return (
        f"| {run.region} | {run.strategy} | {run.method} | {run.places} | {run.floor} | {run.calls} | {run.over_floor:.2f} | "
        f"{run.found} | {run.completeness:.3f} | {run.duplicates} | {run.throttled} | {run.seconds:.1f} | {run.usd:.2f} | "
        f"{run.estimate[0]}-{run.estimate[1]} |"
    )


HEADER = (
    "| region | strategy | asked with | places | floor | calls | calls / floor | found | completeness | duplicates | 429s | wall s | USD (Pro list price) | estimate |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


def main() -> Report:
    runs: list[Run] = []
    print(HEADER)
    with tempfile.TemporaryDirectory() as tmp:
        for region in regions():
            path = write_extract(region, Path(tmp) / f"{region.name.replace(' ', '_')}.osm.pbf")
            with GooglePlacesFake.running(
                path, quota_per_minute=FAKE_QUOTA_PER_MINUTE, page_token_delay_s=TEXT_PAGE_DELAY_S
            ) as fake:
                runs += asyncio.run(measure(region, fake, REDIS_URL))
    table = "\n".join([HEADER, *(_row(run) for run in runs)])
    new = [run for run in runs if run.strategy == CHOSEN]
    figures: list[Figure] = []
    for run in new:
        figures.append(at_most(f"Google calls / floor, {run.region}", run.over_floor, 2.5))
        figures.append(at_least(f"Google completeness, {run.region}", run.completeness, 1.0))
    figures.append(
        at_least(
            "Google estimates whose range holds the calls made (chosen per area)",
            sum(run.in_estimate for run in new) / len(new),
            1.0,
        )
    )
    figures.append(
        at_most("Google 429s, all regions and strategies", sum(r.throttled for r in runs), 0, unit="429s")
    )
    data = {
        "runs": [
            asdict(run) | {"completeness": run.completeness, "over_floor": run.over_floor} for run in runs
        ]
    }
    return save(Report("google_calls", "Google calls per area", figures, table, data))


if __name__ == "__main__":
    main()
