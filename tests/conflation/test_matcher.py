"""The matcher: the kind gate, the distance per kind, one to one, no merge by name alone without a
name, OSM elements by id, and what each link records."""

from __future__ import annotations

import math
from itertools import count

import pytest

from areafetch.areas.categories import CATEGORIES, category_for_osm_tags
from areafetch.conflation import Link, MatchPlace, link_places
from areafetch.conflation.kinds import kinds_of_google_place, kinds_of_osm_place

LON, LAT = 24.94, 60.17
_ids = count(1)


def east(metres: float) -> float:
    return LON + metres / (111_195.0 * math.cos(math.radians(LAT)))


def osm(name: str | None, tags: dict[str, str], metres: float = 0.0, **extra: str) -> MatchPlace:
    category = category_for_osm_tags(tags, tuple(CATEGORIES))
    assert category is not None
    return MatchPlace(
        id=next(_ids),
        source="overpass",
        source_id=f"node/{next(_ids)}",
        name=name,
        kinds=kinds_of_osm_place(category, tags),
        lon=east(metres),
        lat=LAT,
        phone=extra.get("phone"),
        website=extra.get("website"),
    )


def google(
    name: str | None, category: str, types: tuple[str, ...], metres: float = 0.0, **extra: str
) -> MatchPlace:
    return MatchPlace(
        id=next(_ids),
        source="google_places",
        source_id=f"ChIJ{next(_ids)}",
        name=name,
        kinds=kinds_of_google_place(category, types),
        lon=east(metres),
        lat=LAT,
        phone=extra.get("phone"),
        website=extra.get("website"),
    )


def pairs(links: list[Link]) -> set[frozenset[int]]:
    return {frozenset((link.place_id, link.linked_with)) for link in links}


def test_a_cafe_and_its_google_record_are_linked_with_score_and_reasons() -> None:
    a = osm("Café Regatta", {"amenity": "cafe"})
    b = google("Regatta Coffee", "cafe", ("cafe", "food"), metres=35)
    [link] = link_places([a, b])
    assert {link.place_id, link.linked_with} == {a.id, b.id}
    assert link.group_id == min(a.id, b.id)
    assert 0.8 < link.score <= 1
    assert link.reasons["name_similarity"] == 1.0
    assert link.reasons["distance_m"] == pytest.approx(35, abs=0.5)
    assert link.reasons["allowed_m"] == 100
    assert link.reasons["kinds"] == ["cafe"]


def test_a_bar_is_never_linked_with_a_pharmacy_next_door() -> None:
    bar = osm("Apteekki Bar", {"amenity": "bar"})
    pharmacy = google("Apteekki Bar", "pharmacy", ("pharmacy", "store"), metres=5)
    assert link_places([bar, pharmacy]) == []


def test_kin_kinds_are_linked_a_cafe_that_google_calls_a_restaurant() -> None:
    cafe = osm("Muru", {"amenity": "cafe"})
    restaurant = google("Muru", "restaurant", ("restaurant", "food"), metres=20)
    assert len(link_places([cafe, restaurant])) == 1


@pytest.mark.parametrize(
    ("tags", "category", "types", "metres", "linked"),
    [
        ({"leisure": "park"}, "park", ("park",), 350, True),  # a park is big
        ({"amenity": "cafe"}, "cafe", ("cafe",), 150, False),  # a café is a door
        ({"amenity": "atm"}, "atm", ("atm",), 45, False),  # an ATM is a machine
        ({"amenity": "atm"}, "atm", ("atm",), 25, True),
    ],
)
def test_the_distance_allowed_depends_on_the_kind(
    tags: dict[str, str], category: str, types: tuple[str, ...], metres: float, linked: bool
) -> None:
    assert bool(link_places([osm("Esplanadi", tags), google("Esplanadi", category, types, metres)])) is linked


def test_a_place_is_never_linked_to_two_places_of_one_other_source() -> None:
    near = osm("Espresso House", {"amenity": "cafe"}, metres=0)
    far = osm("Espresso House", {"amenity": "cafe"}, metres=60)
    only = google("Espresso House", "cafe", ("cafe",), metres=10)
    links = link_places([near, far, only])
    assert pairs(links) == {frozenset((near.id, only.id))}


def test_the_nearer_of_two_branches_wins_for_each_record() -> None:
    first, second = osm("Picnic", {"amenity": "cafe"}), osm("Picnic", {"amenity": "cafe"}, metres=90)
    g_first, g_second = (
        google("Picnic", "cafe", ("cafe",), metres=10),
        google("Picnic", "cafe", ("cafe",), metres=85),
    )
    assert pairs(link_places([first, second, g_first, g_second])) == {
        frozenset((first.id, g_first.id)),
        frozenset((second.id, g_second.id)),
    }


def test_without_a_name_a_place_is_linked_only_on_a_shared_phone_or_website() -> None:
    unnamed = osm(None, {"amenity": "cafe"})
    named = google("Café Regatta", "cafe", ("cafe",), metres=3)
    assert link_places([unnamed, named]) == []
    with_phone = osm(None, {"amenity": "cafe"}, phone="+358 9 123 4567")
    same_phone = google("Café Regatta", "cafe", ("cafe",), metres=3, phone="09 1234567")
    [link] = link_places([with_phone, same_phone])
    assert link.reasons["same_contact"] == "phone"
    assert link.reasons["name_similarity"] is None
    site = osm(None, {"amenity": "cafe"}, website="https://www.regatta.fi/")
    same_site = google(None, "cafe", ("cafe",), metres=3, website="http://regatta.fi")
    assert link_places([site, same_site])[0].reasons["same_contact"] == "website"


def test_one_element_from_overpass_and_the_extract_is_one_place_with_google_once() -> None:
    from_overpass = osm("Fazer", {"amenity": "cafe"})
    from_extract = MatchPlace(
        id=next(_ids),
        source="osm_extract",
        source_id=from_overpass.source_id,
        name="Fazer",
        kinds=from_overpass.kinds,
        lon=from_overpass.lon,
        lat=from_overpass.lat,
    )
    on_google = google("Fazer Café", "cafe", ("cafe",), metres=15)
    links = link_places([from_overpass, from_extract, on_google])
    assert len(links) == 2
    assert {link.group_id for link in links} == {from_overpass.id}
    assert any(link.reasons.get("same_osm_element") for link in links)


def test_different_names_at_one_door_are_not_linked() -> None:
    assert (
        link_places(
            [osm("Kita", {"amenity": "restaurant"}), google("Kitchen", "restaurant", ("restaurant",))]
        )
        == []
    )
