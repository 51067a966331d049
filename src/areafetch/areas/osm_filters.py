"""Any OSM tag: a filter `key=value` or a bare `key` (any value), asked for alongside or instead of
the named categories, for the `overpass` and `osm_extract` sources.

A filter travels the pipeline as a category named `osm:<filter>` (`osm:shop=bakery`, `osm:craft`):
the places it matches carry that category. Keys are OSM keys (`shop`, `addr:street`, `name:fi`):
ASCII letters, digits and `_ : . -`; values are any printable text but `"`, `\\` and control
characters, so nothing reaches Overpass QL that its string quoting must escape.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "MAX_OSM_FILTERS",
    "OSM_FILTER_PREFIX",
    "is_osm_filter",
    "osm_filter_category",
    "osm_filter_matches",
    "osm_filter_pair",
    "parse_osm_filter",
]

OSM_FILTER_PREFIX: Final = "osm:"
MAX_OSM_FILTERS: Final = 20
_MAX_LENGTH: Final = 60  # `osm:` + 60 fits the 64 characters a category is stored in
_KEY: Final = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_:.\-]*$")
_BAD_VALUE: Final = re.compile(r'["\\\x00-\x1f\x7f]')


def parse_osm_filter(text: str) -> tuple[str, str | None]:
    """(key, value or None for any value) of `key=value` or `key`; ValueError naming the problem."""
    if not text or len(text) > _MAX_LENGTH:
        raise ValueError(f"{text!r}: a filter is 1 to {_MAX_LENGTH} characters, `key=value` or `key`")
    key, equals, value = text.partition("=")
    if not _KEY.fullmatch(key):
        raise ValueError(
            f"{text!r}: an OSM key is ASCII letters, digits and _ : . - (e.g. shop, addr:street, name:fi)"
        )
    if not equals:
        return key, None
    if not value or value != value.strip() or not value.isprintable() or _BAD_VALUE.search(value):
        raise ValueError(
            f"{text!r}: a value is printable text without quotes, backslashes or surrounding spaces"
        )
    return key, value


def osm_filter_category(text: str) -> str:
    """The category the places of a (valid) filter carry: `osm:shop=bakery`."""
    parse_osm_filter(text)
    return OSM_FILTER_PREFIX + text


def is_osm_filter(category: str) -> bool:
    return category.startswith(OSM_FILTER_PREFIX)


def osm_filter_pair(category: str) -> tuple[str, str | None]:
    return parse_osm_filter(category.removeprefix(OSM_FILTER_PREFIX))


def osm_filter_matches(category: str, tags: dict[str, str]) -> bool:
    key, value = osm_filter_pair(category)
    return key in tags if value is None else tags.get(key) == value
