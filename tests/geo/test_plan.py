"""The planner, its JSON models, and clipping places to the area."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from shapely.geometry import MultiPolygon, Polygon

from areafetch.errors import InvalidArea
from areafetch.geo import (
    AreaPlan,
    Circle,
    GeoJSONMultiPolygon,
    GeoJSONPolygon,
    PlanOptions,
    Tile,
    contains,
    contains_many,
    estimate_upstream_calls,
    parse_area,
    plan_area,
    tile_area,
)

HELSINKI = [24.90, 60.15, 25.00, 60.20]
L_SHAPE = {
    "type": "Polygon",
    "coordinates": [
        [
            [24.9, 60.15],
            [25.0, 60.15],
            [25.0, 60.17],
            [24.95, 60.17],
            [24.95, 60.2],
            [24.9, 60.2],
            [24.9, 60.15],
        ]
    ],
}


def test_plan_for_every_source():
    plan = plan_area(HELSINKI, ["overpass", "google_places", "osm_extract"], PlanOptions(max_tile_km2=2.0))
    assert plan.area_km2 == pytest.approx(30.92, abs=0.01)
    assert plan.bbox == (24.90, 60.15, 25.00, 60.20)
    assert plan.vertex_count == 4
    assert len(plan.tiles) >= 16
    assert len(plan.circles) == 1
    assert plan.upstream_calls == {"overpass": len(plan.tiles), "google_places": 1, "osm_extract": 0}
    assert plan.total_upstream_calls == len(plan.tiles) + 1


def test_plan_only_what_was_asked():
    plan = plan_area(L_SHAPE, ["osm_extract"])
    assert plan.sources == ("osm_extract",)
    assert plan.circles == ()
    assert plan.tiles == ()  # tiles only for Overpass
    assert plan.upstream_calls == {"osm_extract": 0}
    assert estimate_upstream_calls(["overpass", "google_places"], tiles=3, circles=5) == {
        "overpass": 3,
        "google_places": 5,
    }


def test_tiles_are_planned_only_for_overpass():
    options = PlanOptions(max_tile_km2=0.5, max_circle_radius_m=800)
    both = plan_area(L_SHAPE, ["overpass", "google_places"], options)
    google = plan_area(L_SHAPE, ["google_places"], options)
    assert both.tiles
    assert google.tiles == ()
    assert google.circles == both.circles
    assert google.upstream_calls == {"google_places": len(both.circles)}
    # The tile count guard is Overpass's: a Google-only plan is not refused for tiles it does not need.
    tiny = PlanOptions(max_tile_km2=0.01, max_units=50)
    with pytest.raises(InvalidArea, match="more than 50 tiles"):
        plan_area(L_SHAPE, ["overpass"], tiny)
    assert plan_area(L_SHAPE, ["google_places"], tiny).circles


def test_plan_accepts_a_shapely_geometry_and_validates_it():
    area = parse_area(L_SHAPE)
    assert plan_area(area).area_km2 == plan_area(L_SHAPE).area_km2
    with pytest.raises(InvalidArea, match="Self-intersection"):
        plan_area(Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)]))


def test_plan_options_are_enforced():
    with pytest.raises(InvalidArea, match="more than the maximum of 10 km²"):
        plan_area(HELSINKI, ["overpass"], PlanOptions(max_area_km2=10))
    with pytest.raises(InvalidArea, match="more than the limit of 5"):
        plan_area(L_SHAPE, ["overpass"], PlanOptions(max_vertices=5))
    with pytest.raises(InvalidArea, match="more than 10 tiles"):
        plan_area(HELSINKI, ["overpass"], PlanOptions(max_tile_km2=0.1, max_units=10))
    with pytest.raises(InvalidArea, match="more than 10 circles"):
        plan_area(HELSINKI, ["google_places"], PlanOptions(max_circle_radius_m=100, max_units=10))


def test_plan_round_trips_through_json_and_pickle():
    plan = plan_area(
        L_SHAPE, ["overpass", "google_places"], PlanOptions(max_tile_km2=2.0, max_circle_radius_m=800)
    )
    assert AreaPlan.model_validate_json(plan.model_dump_json()) == plan
    assert pickle.loads(pickle.dumps(plan)) == plan
    assert pickle.loads(pickle.dumps(plan_area)) is plan_area  # top-level: a process pool can send it
    assert plan.area_geometry().equals(parse_area(L_SHAPE))
    tile = plan.tiles[0]
    assert Tile.model_validate(tile.model_dump(mode="json")) == tile
    assert tile.polygon.model_dump(mode="json")["type"] == "Polygon"


def test_multipolygon_plan_round_trips():
    plan = plan_area([179.9, -16.6, -179.9, -16.5], ["overpass"], PlanOptions(max_tile_km2=50.0))
    assert isinstance(plan.area_geometry(), MultiPolygon)
    assert AreaPlan.model_validate_json(plan.model_dump_json()) == plan


def test_geojson_from_shapely_copies_every_coordinate_as_a_python_float():
    shell = [(24.9, 60.15, 3.0), (25.0, 60.15, 4.0), (25.0, 60.2, 5.0), (24.9, 60.2, 6.0), (24.9, 60.15, 3.0)]
    hole = [
        (24.94, 60.16, 0.0),
        (24.94, 60.18, 0.0),
        (24.96, 60.18, 0.0),
        (24.96, 60.16, 0.0),
        (24.94, 60.16, 0.0),
    ]
    polygon = Polygon(shell, [hole])
    geojson = GeoJSONPolygon.from_shapely(polygon)
    assert geojson.coordinates == (tuple((x, y) for x, y, _ in shell), tuple((x, y) for x, y, _ in hole))
    assert all(type(value) is float for ring in geojson.coordinates for xy in ring for value in xy)
    multi = GeoJSONMultiPolygon.from_shapely(MultiPolygon([polygon, Polygon(hole)]))
    assert multi.coordinates == (geojson.coordinates, (geojson.coordinates[1],))


def test_json_schema_is_exported():
    schema = AreaPlan.model_json_schema()
    assert {"tiles", "circles", "area", "upstream_calls"} <= set(schema["properties"])


def test_models_reject_bad_data():
    with pytest.raises(ValueError, match="radius_m"):
        Circle(id="c", lon=0, lat=0, radius_m=50_001)
    with pytest.raises(ValueError, match="lat"):
        Circle(id="c", lon=0, lat=91, radius_m=10)
    with pytest.raises(ValueError, match="max_circle_radius_m"):
        PlanOptions(max_circle_radius_m=60_000)


def test_overpass_filters():
    tile = Tile(
        id="g1-y0-x0",
        bbox=(24.9, 60.15, 25.0, 60.2),
        polygon=GeoJSONPolygon(coordinates=(((24.9, 60.15), (0.00001, 60.15), (24.9, 60.2), (24.9, 60.15)),)),
        full=False,
    )
    assert tile.overpass_poly() == "60.15 24.9 60.15 0.00001 60.2 24.9"
    assert tile.overpass_bbox() == "60.15,24.9,60.2,25"
    full = tile_area(parse_area(HELSINKI), max_tile_km2=2.0)
    inside = next(t for t in full if t.full)
    assert inside.geometry().equals(Polygon.from_bounds(*inside.bbox))


def test_contains_counts_the_boundary_as_inside():
    area = parse_area(L_SHAPE)
    assert contains(area, 24.92, 60.16)
    assert contains(area, 24.9, 60.16)  # on an edge
    assert contains(area, 25.0, 60.15)  # on a corner
    assert contains(area, 24.95, 60.18)  # on the inner edge of the L
    assert not contains(area, 24.97, 60.18)  # in the notch of the L
    assert not contains(area, 30.0, 60.0)


def test_contains_many_matches_contains():
    area = parse_area(L_SHAPE)
    rng = np.random.default_rng(0)
    lons = np.concatenate([rng.uniform(24.85, 25.05, 500), [24.9, 25.0, 24.95]])
    lats = np.concatenate([rng.uniform(60.10, 60.25, 500), [60.16, 60.15, 60.18]])
    mask = contains_many(area, lons, lats)
    assert mask.dtype == np.bool_
    assert mask.tolist() == [contains(area, x, y) for x, y in zip(lons.tolist(), lats.tolist(), strict=True)]
    assert mask[-3:].all()
    assert contains_many(area, [], []).shape == (0,)
