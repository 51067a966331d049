"""A place: what every upstream client returns and the database stores, in one shape whatever the source."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from areafetch.areas.sources import Source

__all__ = ["Place"]


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
