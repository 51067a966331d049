"""Precision and recall of conflation's links on the labelled set (`labelled_places`), with the
matcher run directly on the places: what `bench conflation` reports and a test holds to targets."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from areafetch.areas.categories import category_for_google_types, category_for_osm_tags
from areafetch.conflation import Link, MatchPlace, link_places
from areafetch.conflation.kinds import kinds_of_google_place, kinds_of_osm_place
from tests.fakes.extract import OsmData
from tests.fakes.google_places import google_places
from tests.fakes.labelled_places import FOOD_TYPES, LabelledSet

FOOD_CATEGORIES = ("cafe", "restaurant", "bar")
CATEGORIES = (*FOOD_CATEGORIES, "pharmacy", "bank", "clothes", "jewelry")
"""An area asks for these: the food kinds and the kinds of the different-category distractors."""


@dataclass(frozen=True, slots=True)
class Quality:
    links: int
    correct: int
    expected: int

    @property
    def precision(self) -> float:
        return self.correct / self.links if self.links else 1.0

    @property
    def recall(self) -> float:
        return self.correct / self.expected if self.expected else 1.0


def quality(
    links: Iterable[tuple[str, str]],
    truth: Mapping[str, str],
    osm_keys: Collection[str],
    google_ids: Collection[str],
    food_osm_keys: Collection[str],
    food_google_ids: Collection[str],
) -> Quality:
    """Score OSM-Google links (osm key, google id) against the truth, over the pairs that involve a food
    place on either side (other kinds are served unperturbed: they would only flatter the figures)."""
    found = {(osm, google) for osm, google in links if osm in food_osm_keys or google in food_google_ids}
    expected = {
        (osm, google)
        for google, osm in truth.items()
        if google in google_ids and osm in osm_keys and (osm in food_osm_keys or google in food_google_ids)
    }
    return Quality(links=len(found), correct=len(found & expected), expected=len(expected))


def links_quality(
    data: OsmData, labelled: LabelledSet, places: Sequence[MatchPlace], links: Iterable[Link]
) -> Quality:
    """`quality` of links the matcher made between `places` (as `match_places` made them)."""
    by_id = {place.id: place for place in places}
    pairs = []
    for link in links:
        first, second = by_id[link.place_id], by_id[link.linked_with]
        osm, google = (first, second) if second.source == "google_places" else (second, first)
        pairs.append((osm.source_id, google.source_id))
    return quality(
        pairs,
        labelled.truth,
        osm_keys={place.source_id for place in places if place.source != "google_places"},
        google_ids={place.source_id for place in places if place.source == "google_places"},
        food_osm_keys={p.osm_key for p in google_places(data) if p.primary_type in FOOD_TYPES},
        food_google_ids={p.id for p in labelled.places if p.primary_type in FOOD_TYPES},
    )


def match_places(data: OsmData, labelled: LabelledSet) -> tuple[list[MatchPlace], list[Link]]:
    """The extract's OSM places and the labelled Google places of `CATEGORIES`, and their links."""
    places: list[MatchPlace] = []
    for element in data.elements:
        category = category_for_osm_tags(dict(element.tags), CATEGORIES)
        if category is not None:
            kinds = kinds_of_osm_place(category, element.tags)
            places.append(
                _match_place(
                    len(places) + 1,
                    "osm_extract",
                    element.key,
                    element.tags.get("name"),
                    kinds,
                    element.lon,
                    element.lat,
                )
            )
    for place in labelled.places:
        category = category_for_google_types(list(place.types), CATEGORIES)
        if category is not None:
            kinds = kinds_of_google_place(category, place.types)
            places.append(
                _match_place(
                    len(places) + 1, "google_places", place.id, place.name, kinds, place.lon, place.lat
                )
            )
    return places, link_places(places)


def _match_place(
    place_id: int,
    source: str,
    source_id: str,
    name: str | None,
    kinds: frozenset[str],
    lon: float,
    lat: float,
) -> MatchPlace:
    return MatchPlace(
        id=place_id, source=source, source_id=source_id, name=name, kinds=kinds, lon=lon, lat=lat
    )
