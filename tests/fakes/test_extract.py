"""The real-data fixture: fetched once, cached, checked, loaded with Overpass's centre rule."""

from __future__ import annotations

import hashlib
from pathlib import Path

import osmium
import pytest

from tests.fakes import extract
from tests.fakes.expected import TagMatch, expected_osm_keys, expected_osm_places
from tests.fakes.extract import HELSINKI_SHA256, OsmData, cache_dir, helsinki_extract


def test_extract_is_cached_and_verified(helsinki_pbf: Path) -> None:
    assert helsinki_pbf.is_file()
    assert helsinki_pbf.parent.parent == cache_dir()
    assert hashlib.sha256(helsinki_pbf.read_bytes()).hexdigest() == HELSINKI_SHA256
    assert helsinki_extract() == helsinki_pbf  # second call: straight from the cache


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AREAFETCH_TEST_DATA_DIR", str(tmp_path))
    assert cache_dir() == tmp_path
    monkeypatch.delenv("AREAFETCH_TEST_DATA_DIR")
    assert cache_dir() == Path.home() / ".cache" / "areafetch-test-data"


def test_data_is_loaded_once_and_is_real(helsinki_data: OsmData) -> None:
    assert extract.load_osm_data() is helsinki_data
    counts = {t: sum(1 for e in helsinki_data.elements if e.type == t) for t in ("node", "way", "relation")}
    assert counts["node"] > 8000
    assert counts["way"] > 4000
    assert counts["relation"] > 500
    assert helsinki_data.timestamp == "2019-04-21T09:50:14Z"
    west, south, east, north = helsinki_data.bounds
    assert 24.9 < west < east < 25.0
    assert 60.1 < south < north < 60.2
    java = helsinki_data.get("node", 60068035)
    assert java is not None
    assert java.tags["name"] == "Cafe Java"
    assert java.tags["amenity"] == "cafe"
    # output order: nodes, ways, relations, each by id
    order = [({"node": 0, "way": 1, "relation": 2}[e.type], e.id) for e in helsinki_data.elements]
    assert order == sorted(order)


def test_way_and_relation_centres_follow_out_center(helsinki_data: OsmData) -> None:
    """Centre = middle of the bbox of the nodes (ways) or of direct node/way members (relations)."""
    locations: dict[int, tuple[float, float]] = {}
    ways: dict[int, list[tuple[float, float]]] = {}
    for obj in osmium.FileProcessor(str(helsinki_data.path)).with_locations():
        if isinstance(obj, osmium.osm.Node):
            locations[obj.id] = (obj.location.lon, obj.location.lat)
        elif isinstance(obj, osmium.osm.Way):
            ways[obj.id] = [(n.lon, n.lat) for n in obj.nodes if n.location.valid()]
    checked_ways = checked_relations = 0
    for element in helsinki_data.elements:
        points: list[tuple[float, float]] = []
        if element.type == "way":
            points = ways[element.id]
            checked_ways += 1
        elif element.type == "relation":
            for member in element.members:
                if member.type == "node" and member.ref in locations:
                    points.append(locations[member.ref])
                elif member.type == "way":
                    points.extend(ways.get(member.ref, []))
            checked_relations += 1
        else:
            continue
        lons = [p[0] for p in points]
        lats = [p[1] for p in points]
        assert element.lon == pytest.approx((min(lons) + max(lons)) / 2, abs=1e-7)
        assert element.lat == pytest.approx((min(lats) + max(lats)) / 2, abs=1e-7)
    assert checked_ways > 4000
    assert checked_relations > 500


def test_expected_osm_places_clips_by_centre(helsinki_data: OsmData) -> None:
    bbox = (24.94, 60.165, 24.95, 60.172)
    cafes = expected_osm_places(bbox, ["amenity=cafe"])
    assert cafes
    assert all(e.tags["amenity"] == "cafe" for e in cafes)
    assert all(24.94 <= e.lon <= 24.95 and 60.165 <= e.lat <= 60.172 for e in cafes)
    everything = expected_osm_keys(bbox, [TagMatch("amenity", "cafe"), ("leisure", "park"), "shop"])
    assert {e.key for e in cafes} < everything
    assert expected_osm_keys(bbox, ["amenity=cafe"], types=["node"]) <= {e.key for e in cafes}
