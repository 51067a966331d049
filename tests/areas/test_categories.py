"""The category taxonomy: its size and groups, and that every Google type it names is in Table A."""

from __future__ import annotations

import json
import subprocess
import sys

from areafetch.areas.categories import CATEGORIES, GROUPS, google_table_a_types

ORIGINAL = (
    "restaurant",
    "cafe",
    "bar",
    "school",
    "pharmacy",
    "hospital",
    "supermarket",
    "bank",
    "fuel",
    "park",
)


def test_at_least_80_categories_in_at_least_8_groups_each_with_osm_tags_and_google_types() -> None:
    assert len(CATEGORIES) >= 80
    groups = {category.group for category in CATEGORIES.values()}
    assert len(groups) >= 8
    assert groups <= set(GROUPS)
    for category in CATEGORIES.values():
        assert category.osm_tags, category.name
        assert category.google_types, category.name
        assert all(key and value for key, value in category.osm_tags), category.name


def test_every_google_type_is_in_table_a() -> None:
    table_a = google_table_a_types()
    assert "cafe" in table_a
    assert "point_of_interest" not in table_a
    outside = {
        (category.name, google_type)
        for category in CATEGORIES.values()
        for google_type in category.google_types
        if google_type not in table_a
    }
    assert outside == set()


def test_the_original_ten_categories_keep_their_names() -> None:
    assert set(ORIGINAL) <= set(CATEGORIES)
    assert CATEGORIES["bar"].osm_tags == (("amenity", "bar"), ("amenity", "pub"))
    assert CATEGORIES["fuel"].google_types == ("gas_station",)


def test_the_cli_lists_the_categories_by_group() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "areafetch", "categories", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    names = [category["name"] for category in json.loads(listed.stdout)]
    assert names == list(CATEGORIES)
    text = subprocess.run(
        [sys.executable, "-m", "areafetch", "categories"], capture_output=True, text=True, check=True
    ).stdout
    assert "Food & drink" in text
    assert "shop=bakery" in text
    assert "electric_vehicle_charging_station" in text
