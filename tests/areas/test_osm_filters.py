"""Any OSM tag: what a filter may be, the QL it becomes, and which places it matches."""

from __future__ import annotations

import pytest

from areafetch.areas.categories import category_for_osm_tags, google_types
from areafetch.areas.osm_filters import osm_filter_category, parse_osm_filter
from areafetch.providers._osm import osm_tag_pairs
from areafetch.providers.overpass import build_query

SQUARE = [(24.9, 60.1), (25.0, 60.1), (25.0, 60.2), (24.9, 60.2), (24.9, 60.1)]


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("shop=bakery", ("shop", "bakery")),
        ("craft", ("craft", None)),
        ("addr:street=Mannerheimintie", ("addr:street", "Mannerheimintie")),
        ("name:fi=Kahvila Sävy", ("name:fi", "Kahvila Sävy")),  # any printable value, spaces inside
        ("cuisine=sushi;ramen", ("cuisine", "sushi;ramen")),
        ("ref=]{}()[", ("ref", "]{}()[")),  # quoted in QL: nothing to escape
    ],
)
def test_a_good_filter_parses(text: str, parsed: tuple[str, str | None]) -> None:
    assert parse_osm_filter(text) == parsed


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "1 to 60 characters"),
        ("k" * 61, "1 to 60 characters"),
        ("shop=", "a value is printable text"),
        ('name="x"', "without quotes"),
        ("name=a\\b", "backslashes"),
        ("name=a\nb", "printable"),
        ("name= padded", "surrounding spaces"),
        ("shöp=bakery", "an OSM key is ASCII"),
        ("shop]=x", "an OSM key is ASCII"),
        ("=bakery", "an OSM key is ASCII"),
        ('"shop"', "an OSM key is ASCII"),
        ("shop\n", "an OSM key is ASCII"),  # `$` would match before a final newline
        ("shop\n=bakery", "an OSM key is ASCII"),
        ("name=a\u2028b", "printable"),
        ("name=a\x85b", "printable"),
    ],
)
def test_a_bad_filter_is_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_osm_filter(text)


def test_filters_become_ql_beside_the_categories_and_a_bare_key_takes_any_value() -> None:
    categories = ["cafe", osm_filter_category("shop=bakery"), osm_filter_category("craft"), "osm:amenity"]
    assert osm_tag_pairs(categories) == [
        ("amenity", "cafe"),
        ("shop", "bakery"),
        ("craft", None),
        ("amenity", None),
    ]
    query = build_query(SQUARE, categories, timeout_s=25, maxsize_bytes=1_000_000)
    assert 'nwr["amenity"](poly:' in query  # the bare key covers amenity=cafe too
    assert 'nwr["shop"="bakery"](poly:' in query
    assert 'nwr["craft"](poly:' in query
    assert query.count("nwr[") == 3


def test_a_value_with_ql_specials_is_sent_inside_its_quotes() -> None:
    query = build_query(SQUARE, ["osm:ref=]{}()["], timeout_s=25, maxsize_bytes=1_000_000)
    assert 'nwr["ref"="]{}()["](poly:' in query


def test_a_place_carries_the_first_filter_or_category_it_matches() -> None:
    wanted = ("osm:shop=bakery", "osm:craft", "cafe")
    assert category_for_osm_tags({"shop": "bakery", "name": "x"}, wanted) == "osm:shop=bakery"
    assert category_for_osm_tags({"craft": "carpenter"}, wanted) == "osm:craft"
    assert category_for_osm_tags({"amenity": "cafe"}, wanted) == "cafe"
    assert category_for_osm_tags({"shop": "books"}, wanted) is None
    assert google_types(wanted) == google_types(["cafe"])  # Google gets the named categories only
