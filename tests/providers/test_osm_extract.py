"""read_extract_places on the real Helsinki extract: the same places as Overpass and as the oracle."""

from __future__ import annotations

import asyncio
import contextlib
import math
import pickle
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import shapely

from areafetch.areas import Place
from areafetch.areas.attributes import osm_attributes
from areafetch.areas.categories import CATEGORIES
from areafetch.cpu import CpuPool, burn_cpu
from areafetch.providers import OverpassClient, extract_place_chunks, read_extract_places
from areafetch.ratelimit import Limiter, LimitPolicy
from tests.fakes.cafes import cafe_ids, write_cafes
from tests.fakes.expected import expected_osm_places
from tests.fakes.extract import OsmData
from tests.fakes.fixtures import TEST_USER_AGENT
from tests.fakes.overpass import OverpassFake
from tests.providers.policies import OVERPASS_FAKE_RATE, OVERPASS_TEST_POLICY

ALL_CATEGORIES = tuple(CATEGORIES)
CENTRE_BBOX = (24.9380, 60.1650, 24.9500, 60.1740)


def _filters(categories: tuple[str, ...]) -> list[str]:
    return [f"{key}={value}" for name in categories for key, value in CATEGORIES[name].osm_tags]


def _in_bbox(lon: float, lat: float, bbox: tuple[float, float, float, float]) -> bool:
    west, south, east, north = bbox
    return west <= lon <= east and south <= lat <= north


@pytest.mark.parametrize(
    ("bbox_name", "categories"),
    [("whole", ALL_CATEGORIES), ("centre", ("restaurant", "cafe", "bar", "park", "school"))],
)
def test_equals_the_oracle(
    helsinki_pbf: Path, helsinki_data: OsmData, bbox_name: str, categories: tuple[str, ...]
) -> None:
    bbox = helsinki_data.bounds if bbox_name == "whole" else CENTRE_BBOX
    places = read_extract_places(str(helsinki_pbf), bbox, categories)

    expected = expected_osm_places(bbox, _filters(categories), data=helsinki_data)
    assert [p.source_id for p in places] == [e.key for e in expected]  # same ids, Overpass's order
    for place, element in zip(places, expected, strict=True):
        assert place.source == "osm_extract"
        assert (place.lon, place.lat) == (element.lon, element.lat)
        assert place.name == element.tags.get("name")
        assert place.attributes == osm_attributes(element.tags)
        assert place.category in categories
    assert {p.source_id.split("/")[0] for p in places} == {"node", "way", "relation"}


async def test_equals_the_overpass_answer(
    helsinki_pbf: Path,
    http: httpx.AsyncClient,
    make_limiter: Callable[[LimitPolicy], Limiter],
    overpass_fake: OverpassFake,
) -> None:
    overpass_fake.configure(**OVERPASS_FAKE_RATE)
    client = OverpassClient(
        http,
        make_limiter(OVERPASS_TEST_POLICY),
        url=overpass_fake.interpreter_url,
        user_agent=TEST_USER_AGENT,
        timeout_s=10,
        maxsize_bytes=2**26,
    )
    bbox = CENTRE_BBOX
    categories = ("restaurant", "cafe", "bar", "bank", "park", "school", "supermarket")
    from_overpass = [
        p
        for p in await client.fetch(shapely.box(*bbox), categories)
        if _in_bbox(p.lon, p.lat, bbox)  # the caller's clip by centre
    ]
    from_extract = read_extract_places(str(helsinki_pbf), bbox, categories)

    def comparable(places: list[Place]) -> list[tuple[object, ...]]:
        return [(p.source_id, p.lon, p.lat, p.name, p.category, p.attributes) for p in places]

    assert len(from_extract) > 50
    assert comparable(from_extract) == comparable(from_overpass)


def test_empty_bbox_and_no_match(helsinki_pbf: Path) -> None:
    assert read_extract_places(str(helsinki_pbf), (0.0, 0.0, 0.1, 0.1), ("cafe",)) == []


def test_bad_arguments(helsinki_pbf: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_extract_places(str(tmp_path / "missing.osm.pbf"), CENTRE_BBOX, ("cafe",))
    with pytest.raises(ValueError, match="west, south, east, north"):
        read_extract_places(str(helsinki_pbf), (25.0, 60.0, 24.0, 61.0), ("cafe",))
    with pytest.raises(ValueError, match="no categories"):
        read_extract_places(str(helsinki_pbf), CENTRE_BBOX, ())


def test_fit_for_a_process_pool(helsinki_pbf: Path) -> None:
    """A top-level function of picklable arguments whose result pickles (what a pool needs)."""
    assert pickle.loads(pickle.dumps(read_extract_places)) is read_extract_places
    places = read_extract_places(str(helsinki_pbf), CENTRE_BBOX, ("cafe",))
    assert pickle.loads(pickle.dumps(places)) == places


# --- streaming through the process pool ----------------------------------------------------------


@pytest.fixture
def cpu() -> Iterator[CpuPool]:
    pool = CpuPool(1)
    yield pool
    pool.close()


async def test_streamed_chunks_hold_exactly_the_places_of_the_list(
    helsinki_pbf: Path, helsinki_data: OsmData, cpu: CpuPool
) -> None:
    bbox = helsinki_data.bounds
    expected = read_extract_places(str(helsinki_pbf), bbox, ALL_CATEGORIES)

    chunks = [
        chunk
        async for chunk in extract_place_chunks(cpu, str(helsinki_pbf), bbox, ALL_CATEGORIES, chunk_size=40)
    ]

    assert [len(chunk) for chunk in chunks[:-1]] == [40] * (len(chunks) - 1)
    assert len(chunks) == math.ceil(len(expected) / 40) > 10
    streamed = [place for chunk in chunks for place in chunk]
    assert len(streamed) == len(expected)
    assert {place.source_id: place for place in streamed} == {place.source_id: place for place in expected}


async def test_many_places_arrive_in_order_of_the_file_each_once(tmp_path: Path, cpu: CpuPool) -> None:
    bbox = (24.90, 60.15, 24.92, 60.16)
    pbf = write_cafes(tmp_path / "cafes.osm.pbf", 30_000, bbox)

    chunks = [chunk async for chunk in extract_place_chunks(cpu, str(pbf), bbox, ("cafe",))]

    assert [len(chunk) for chunk in chunks] == [10_000, 10_000, 10_000]
    assert [place.source_id for chunk in chunks for place in chunk] == cafe_ids(30_000)


async def test_errors_of_the_read_reach_the_reader(helsinki_pbf: Path, tmp_path: Path, cpu: CpuPool) -> None:
    with pytest.raises(FileNotFoundError):
        async for _ in extract_place_chunks(cpu, str(tmp_path / "missing.osm.pbf"), CENTRE_BBOX, ("cafe",)):
            pass
    with pytest.raises(ValueError, match="no categories"):
        async for _ in extract_place_chunks(cpu, str(helsinki_pbf), CENTRE_BBOX, ()):
            pass
    assert [
        chunk async for chunk in extract_place_chunks(cpu, str(helsinki_pbf), (0, 0, 0.1, 0.1), ("cafe",))
    ] == []


async def test_a_reader_that_stops_early_frees_the_pool_process(tmp_path: Path, cpu: CpuPool) -> None:
    bbox = (24.90, 60.15, 24.92, 60.16)
    pbf = write_cafes(tmp_path / "cafes.osm.pbf", 30_000, bbox)
    chunks = extract_place_chunks(cpu, str(pbf), bbox, ("cafe",), chunk_size=500)  # more than the pipe holds
    async with contextlib.aclosing(chunks):
        first = await anext(chunks)
    assert len(first) == 500

    # The pool process stops at its next write (broken pipe) and takes new work.
    assert await asyncio.wait_for(cpu.run(burn_cpu, 1), timeout=30) >= 0
