"""Clipping places to an area: point-in-area tests that count the boundary as inside."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import shapely

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

    from areafetch.geo._area import Area

__all__ = ["contains", "contains_many"]


def contains(area: Area, lon: float, lat: float) -> bool:
    """Whether the point lies in the area or on its boundary.

    Prepares `area` in place on first use (shapely's prepared geometry), so repeated calls with
    the same geometry object are fast.
    """
    shapely.prepare(area)
    return bool(shapely.intersects_xy(area, lon, lat))


def contains_many(area: Area, lons: ArrayLike, lats: ArrayLike) -> NDArray[np.bool_]:
    """`contains` over arrays of longitudes and latitudes at once: a boolean mask, for bulk clipping."""
    shapely.prepare(area)
    x = np.asarray(lons, dtype=float)
    y = np.asarray(lats, dtype=float)
    return np.asarray(shapely.intersects_xy(area, x, y), dtype=np.bool_)
