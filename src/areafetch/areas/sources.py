"""The sources an area's places come from, and whether each is configured."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, get_args

if TYPE_CHECKING:
    from areafetch.config import Settings

__all__ = ["OSM_SOURCES", "RATE_LIMITED_SOURCES", "SOURCES", "Source", "is_configured", "unconfigured_reason"]

Source = Literal["overpass", "google_places", "osm_extract"]
SOURCES: tuple[Source, ...] = get_args(Source)
# Shared upstream services, called per tile or circle behind a limiter; a local extract is neither.
RATE_LIMITED_SOURCES: tuple[Source, ...] = ("overpass", "google_places")
# The sources of OpenStreetMap data: they name an element alike (`node/123`).
OSM_SOURCES: tuple[Source, ...] = ("overpass", "osm_extract")

_REQUIRED_SETTING: dict[Source, str] = {
    "google_places": "AREAFETCH_GOOGLE_API_KEY",
    "osm_extract": "AREAFETCH_OSM_EXTRACT_PATH",
}


def is_configured(source: Source, settings: Settings) -> bool:
    """Whether `settings` hold what `source` needs (Overpass needs nothing of the operator)."""
    if source == "google_places":
        return bool(settings.google_api_key and settings.google_api_key.get_secret_value())
    if source == "osm_extract":
        return settings.osm_extract_path is not None
    return True


def unconfigured_reason(source: Source, settings: Settings) -> str | None:
    """Why `source` cannot be used with `settings`, or None when it can."""
    if is_configured(source, settings):
        return None
    return f"{source} is not available: {_REQUIRED_SETTING[source]} is not set"
