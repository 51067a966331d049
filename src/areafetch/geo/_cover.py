"""Covering a region with Nearby Search calls that never ask twice (`rankPreference: DISTANCE`).

    cover = NearbyCover(region)
    while (circle := cover.next_circle()) is not None:
        answer = await client.search_nearby(circle.lon, circle.lat, circle.radius_m, categories)
        cover.add_answer(circle, answer.returned, capped=answer.capped)

What an answer proves: ranked by distance, an answer that is not capped holds every place in its
circle, so the whole circle is complete; a capped one holds the 20 nearest, so the disc out to the
20th place is complete (shrunk by `PROOF_MARGIN`, for a server that measures distance a little
differently). The part of the region not yet proven complete is kept as a shapely geometry in a
local azimuthal equidistant projection (metres; distortion under 1e-6 within 50 km) and every
proven disc is cut out of it.

Where to ask next: at the lowest point of what remains (then the westernmost), so the covering
advances as a front and leaves no islands behind; the centre is chosen among points around it as
the one whose expected proven disc (the last nearby answer's radius) takes the most of what
remains; the radius asked for reaches the farthest point of what remains (at most 50 km), so an
answer that is not capped finishes the region. A circle is never placed where nothing remains.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from areafetch.geo.models import MAX_CIRCLE_RADIUS_M, Circle

__all__ = ["MIN_PROOF_M", "PROOF_MARGIN", "NearbyCover", "nearby_call_range", "simulate_nearby_calls"]

NEARBY_MAX_RESULTS: Final = 20
PROOF_MARGIN: Final = 0.999
"""A proven disc is the 20th place's distance times this (Google's distance may not be ours)."""
_NEGLIGIBLE_M2: Final = 1.0
"""Pieces of the remainder smaller than this (slivers between proven discs) are dropped."""
MIN_PROOF_M: Final = 1.0
"""A capped answer proves at least this radius: more than 20 places within a metre of one point cannot
be told apart by Nearby Search at all; the cover notes them in `crowded` and moves on."""
_QUAD_SEGS: Final = 16
_OFFSETS: Final = (0.0, 0.45, 0.8)
_BEARINGS: Final = tuple(math.radians(b) for b in range(0, 360, 30))


@dataclass(frozen=True, slots=True)
class _Proof:
    x: float
    y: float
    radius_m: float


class NearbyCover:
    """What of a region Nearby Search answers have proven complete, and the next circle to ask.

    Args:
        region: The region to cover, a lon/lat polygon (not across the antimeridian).
        max_radius_m: Largest radius asked for.
        id_prefix: Start of every circle id (`{prefix}/{n}`).
    """

    def __init__(
        self, region: BaseGeometry, *, max_radius_m: float = MAX_CIRCLE_RADIUS_M, id_prefix: str = "n"
    ) -> None:
        centre = region.centroid
        self._to_m = Transformer.from_proj(
            "EPSG:4326",
            f"+proj=aeqd +lat_0={centre.y} +lon_0={centre.x} +ellps=WGS84 +units=m",
            always_xy=True,
        )
        self._remainder: BaseGeometry = shapely.transform(region, self._project)
        self._max_radius_m = max_radius_m
        self._id_prefix = id_prefix
        self._proofs: list[_Proof] = []
        self.calls = 0
        self._stalled = False
        self.crowded: list[tuple[float, float]] = []
        """(lon, lat) of circles whose 20 nearest lay within `MIN_PROOF_M`: there may be more."""

    def _project(self, coords: np.ndarray) -> np.ndarray:
        x, y = self._to_m.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    def _unproject(self, x: float, y: float) -> tuple[float, float]:
        lon, lat = self._to_m.transform(x, y, direction="INVERSE")
        return float(lon), float(lat)

    @property
    def remaining_m2(self) -> float:
        """Area of the region not yet proven complete, in m²."""
        return float(self._remainder.area)

    @property
    def done(self) -> bool:
        return self._remainder.is_empty

    def next_circle(self) -> Circle | None:
        """The next circle to ask, or None when the whole region is proven complete."""
        if self._remainder.is_empty:
            return None
        start = _lowest_point(self._remainder)
        expected_m = self._expected_radius_m(start)
        # After an answer that proved nothing new, ask at the start point itself: it lies on what
        # remains, so any disc around it (at least MIN_PROOF_M) takes some of it.
        x, y = start if self._stalled else self._best_centre(start, expected_m)
        far_m = shapely.hausdorff_distance(Point(x, y), self._remainder)  # the farthest remaining point
        radius_m = min(self._max_radius_m, max(far_m * 1.001, 1.0))
        lon, lat = self._unproject(x, y)
        return Circle(id=f"{self._id_prefix}/{self.calls}", lon=lon, lat=lat, radius_m=radius_m)

    def add_answer(self, circle: Circle, returned: Sequence[tuple[float, float]], *, capped: bool) -> None:
        """Cut out what a DISTANCE-ranked answer proves complete.

        Args:
            circle: The circle that was asked.
            returned: (lon, lat) of every place the answer held (before any filtering of ours).
            capped: The answer held the maximum of 20 places.
        """
        self.calls += 1
        x, y = self._project(np.array([[circle.lon, circle.lat]]))[0]
        if capped and returned:
            points = self._project(np.asarray(returned, dtype=float))
            farthest = float(np.max(np.hypot(points[:, 0] - x, points[:, 1] - y)))
            proven_m = min(farthest, circle.radius_m) * PROOF_MARGIN
            if proven_m < MIN_PROOF_M:
                self.crowded.append((circle.lon, circle.lat))
                proven_m = MIN_PROOF_M
        else:
            proven_m = circle.radius_m * PROOF_MARGIN
        self._proofs.append(_Proof(float(x), float(y), proven_m))
        disc = Point(x, y).buffer(proven_m, quad_segs=_QUAD_SEGS)  # inscribed: never claims too much
        before_m2 = self._remainder.area
        remainder = self._remainder.difference(disc)
        parts = [part for part in shapely.get_parts(remainder) if part.area >= _NEGLIGIBLE_M2]
        self._remainder = shapely.union_all(parts) if parts else shapely.Polygon()
        self._stalled = self._remainder.area >= before_m2

    def _expected_radius_m(self, at: tuple[float, float]) -> float:
        """The disc an answer near `at` is expected to prove: that of the nearest answer so far."""
        if not self._proofs:
            return max(shapely.minimum_bounding_radius(self._remainder), 1.0)
        nearest = min(self._proofs, key=lambda p: math.hypot(p.x - at[0], p.y - at[1]))
        return max(nearest.radius_m, 1.0)

    def _best_centre(self, start: tuple[float, float], expected_m: float) -> tuple[float, float]:
        if not self._proofs:
            centre = shapely.minimum_bounding_circle(self._remainder).centroid
            return float(centre.x), float(centre.y)
        candidates = [(start[0], start[1])] + [
            (start[0] + expected_m * offset * math.sin(b), start[1] + expected_m * offset * math.cos(b))
            for offset in _OFFSETS[1:]
            for b in _BEARINGS
        ]
        discs = shapely.buffer(shapely.points(candidates), expected_m, quad_segs=8)
        gained = shapely.area(shapely.intersection(discs, self._remainder))
        best = int(np.argmax(gained))
        return candidates[best]


def simulate_nearby_calls(
    region: BaseGeometry, known: np.ndarray, *, max_radius_m: float, stop_after: int
) -> int:
    """The calls a DISTANCE cover of the region makes if the `known` (lon, lat) places, those around
    the region included, are all there are: the cover run against a local nearest-20 search.
    Stops counting at `stop_after` (a rival strategy's cost: beyond it the answer no longer matters)."""
    cover = NearbyCover(region, max_radius_m=max_radius_m)
    points = np.asarray(known, dtype=float).reshape(-1, 2)
    xy = cover._project(points) if len(points) else np.empty((0, 2))
    while cover.calls < stop_after and (circle := cover.next_circle()) is not None:
        x, y = cover._project(np.array([[circle.lon, circle.lat]]))[0]
        distances = np.hypot(xy[:, 0] - x, xy[:, 1] - y)
        nearest = np.argsort(distances, kind="stable")
        nearest = nearest[distances[nearest] <= circle.radius_m][:NEARBY_MAX_RESULTS]
        returned = [(float(lon), float(lat)) for lon, lat in points[nearest]]
        cover.add_answer(circle, returned, capped=len(nearest) >= NEARBY_MAX_RESULTS)
    return cover.calls


def _lowest_point(geometry: BaseGeometry) -> tuple[float, float]:
    """The southernmost vertex of a geometry (the westernmost of those)."""
    coords = shapely.get_coordinates(geometry)
    index = int(np.lexsort((coords[:, 0], coords[:, 1]))[0])
    return float(coords[index, 0]), float(coords[index, 1])


CEILING_PER_FLOOR: Final = 3
CEILING_PER_CELL: Final = 4


def nearby_call_range(known_places: int, circles: int) -> tuple[int, int | None]:
    """The calls a DISTANCE cover is expected to make: (floor, ceiling).

    The floor is ⌈known / 20⌉ (each call returns at most 20 places), and at least one call per
    planned circle. The ceiling, measured on the generated regions of `bench/google_calls.py`
    (1.8-3.5 x the floor, the most where few places make a small floor), is 3 x that floor plus 4
    per planned circle for the circles around a cell's edge; None when no place is known there
    yet (nothing bounds the calls before a first fetch).
    """
    floor = max(circles, math.ceil(known_places / NEARBY_MAX_RESULTS))
    if known_places == 0:
        return floor, None
    return floor, CEILING_PER_FLOOR * math.ceil(
        known_places / NEARBY_MAX_RESULTS
    ) + CEILING_PER_CELL * circles
