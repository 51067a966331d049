"""Coarse density cells and planning cells to fit what was learned."""

from __future__ import annotations

import pytest
import shapely

from areafetch.geo import geodesic_area_km2, parse_area
from areafetch.geo._cells import fit_cells, plan_cells
from areafetch.geo._density import coarse_key, coarse_overlaps, estimate_places, places_by_coarse_cell


def test_overlaps_add_up_to_the_area_and_keys_match_points() -> None:
    area = shapely.box(24.93, 60.16, 25.12, 60.31)  # spans 3 x 3 cells of 0.1°
    overlaps = coarse_overlaps(area)
    assert len(overlaps) == 9
    assert sum(overlaps.values()) == pytest.approx(geodesic_area_km2(area), rel=0.01)
    assert coarse_key(24.95, 60.17) in overlaps
    counts = places_by_coarse_cell([("cafe", 24.95, 60.17), ("cafe", 24.96, 60.18), ("bar", 25.11, 60.29)])
    assert counts == {("cafe", "601:249"): 2, ("bar", "602:251"): 1}


def test_estimate_is_density_times_overlap() -> None:
    cell = shapely.box(24.9, 60.1, 25.0, 60.2)
    km2 = coarse_overlaps(cell)[coarse_key(24.95, 60.15)]
    assert estimate_places(cell, {coarse_key(24.95, 60.15): 10.0}) == pytest.approx(10.0 * km2)
    assert estimate_places(shapely.box(24.9, 60.1, 24.95, 60.2), {coarse_key(24.95, 60.15): 10.0}) == (
        pytest.approx(5.0 * km2, rel=0.01)
    )


def test_a_cell_expected_too_heavy_is_cut_until_each_part_fits() -> None:
    area = parse_area([24.5, 60.0, 25.5, 60.5], max_area_km2=None)
    (cell,) = plan_cells(area, max_cell_km2=5_000)
    dense = coarse_key(24.95, 60.15)  # one busy coarse cell, nothing elsewhere
    density = {dense: 200.0}

    def estimate(polygon: shapely.Polygon) -> float:
        return estimate_places(polygon, density)

    fitted = fit_cells(cell, area, estimate, most_places=5_000, depth_left=6)
    assert len(fitted) > 1
    assert all(estimate(part.geometry()) <= 5_000 for part in fitted)
    assert all(part.id.startswith(f"{cell.id}/") for part in fitted)
    assert shapely.union_all([part.geometry() for part in fitted]).buffer(1e-9).covers(area)
    # only the parts over the busy cell were cut further: the empty quadrants stayed whole
    assert min(part.id.count("/") for part in fitted) == 1
    assert fit_cells(cell, area, estimate, most_places=5_000, depth_left=0) == [cell]
