"""What every upstream client returns: places in one shape, whatever the source."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Place", "Source"]

Source = Literal["overpass", "google_places", "osm_extract"]


class Place(BaseModel):
    """One point of interest as we store it.

    `source_id` is `node/123`, `way/456` or `relation/789` for OSM sources and the place id
    for Google. Ways and relations are placed at their centre.
    """

    model_config = ConfigDict(frozen=True)

    source: Source
    source_id: str = Field(min_length=1, max_length=256)
    name: str | None = None
    category: str
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    attributes: dict[str, Any] = Field(default_factory=dict, description="OSM tags or Google fields")
