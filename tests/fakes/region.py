"""A generated region for planning benchmarks: a dense city centre, sparse outskirts, and clutter.

    path = write_region(tmp / "region.osm.pbf", RegionSpec())

`places` cafes and restaurants (nodes, named): `centre_share` of them normally distributed around
`centre` (`centre_sigma_km`), the rest uniform over `bbox`; plus `clutter` nodes tagged
`natural=tree` spread the same way, which a spatial query reads but never returns. Node ids start far
above real OSM's and `cafes.py`'s, so they never meet other tests' places in one database.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import osmium
import osmium.osm.mutable

FIRST_ID = 950_000_000_000
_KM_PER_DEG = 111.32


@dataclass(frozen=True)
class RegionSpec:
    bbox: tuple[float, float, float, float] = (24.40, 60.00, 25.40, 60.50)  # ~3,090 km²
    centre: tuple[float, float] = (24.94, 60.19)
    centre_sigma_km: float = 5.0
    places: int = 33_000
    centre_share: float = 0.6
    clutter: int = 40_000
    seed: int = 12


def write_region(path: Path, spec: RegionSpec) -> Path:
    """Write the region's nodes, sorted by id, to an .osm.pbf; returns the path."""
    rng = np.random.default_rng(spec.seed)
    lons, lats = _points(rng, spec, spec.places)
    clutter_lons, clutter_lats = _points(rng, spec, spec.clutter)
    kinds = rng.choice(["cafe", "restaurant"], size=spec.places, p=[0.45, 0.55])
    writer = osmium.SimpleWriter(str(path), overwrite=True)
    try:
        for index in range(spec.places):
            node_id = FIRST_ID + index
            tags = {"amenity": str(kinds[index]), "name": f"{str(kinds[index]).title()} {node_id}"}
            location = (float(lons[index]), float(lats[index]))
            writer.add_node(osmium.osm.mutable.Node(id=node_id, version=1, location=location, tags=tags))
        for index in range(spec.clutter):
            node_id = FIRST_ID + spec.places + index
            location = (float(clutter_lons[index]), float(clutter_lats[index]))
            writer.add_node(
                osmium.osm.mutable.Node(id=node_id, version=1, location=location, tags={"natural": "tree"})
            )
    finally:
        writer.close()
    return path


def _points(rng: np.random.Generator, spec: RegionSpec, count: int) -> tuple[np.ndarray, np.ndarray]:
    west, south, east, north = spec.bbox
    central = int(count * spec.centre_share)
    lon0, lat0 = spec.centre
    sigma_lat = spec.centre_sigma_km / _KM_PER_DEG
    sigma_lon = sigma_lat / math.cos(math.radians(lat0))
    lons = np.concatenate([rng.normal(lon0, sigma_lon, central), rng.uniform(west, east, count - central)])
    lats = np.concatenate([rng.normal(lat0, sigma_lat, central), rng.uniform(south, north, count - central)])
    # Keep every point inside the region (a normal tail may fall outside).
    return np.clip(lons, west + 1e-6, east - 1e-6), np.clip(lats, south + 1e-6, north - 1e-6)
