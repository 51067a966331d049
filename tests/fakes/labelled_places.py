"""A labelled set for conflation: the fake Google's places of the Helsinki extract, with the cafés,
restaurants and bars perturbed the way a second source differs from OSM, and the truth of which
Google place is which OSM element.

Every food place (cafe, restaurant, bar) of the fake Google, independently and reproducibly (a random
generator seeded by its OSM key):
- is missing from Google (7 %), so some OSM places have no partner;
- gets a name variant (the name as OSM has it in a quarter of the places): upper or lower case,
  accents dropped or added, punctuation changed ("&" / "and", apostrophes), words reordered, the
  kind word swapped or added ("Ravintola X" / "X Restaurant", "Cafe X" / "X Coffee"), a legal form
  ("Oy", "Ltd"), a district after the name ("X Kamppi"), a bracketed part dropped;
- moves 0-80 m in a random direction;
- is typed as another food kind (10 %: a café that Google calls a restaurant);
- has a distractor (5 % each): the same name 300-900 m away (another branch) or at 0-30 m a place of
  another kind (a pharmacy, bank, clothes shop or jeweller) with the same name.
Places only Google knows (7 % of the food places) are added at random points with their own names.
Places of other kinds are served as the plain fake serves them (and are in the truth too).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Final

from anyascii import anyascii

from tests.fakes.extract import OsmData
from tests.fakes.google_places import FakePlace, _types_for, google_places, place_id

FOOD_TYPES: Final = ("cafe", "restaurant", "bar")
OTHER_KINDS: Final = ("pharmacy", "bank", "clothing_store", "jewelry_store")
"""The kinds a different-category distractor is given; an area asks for their categories too."""
MAX_MOVE_M: Final = 80.0
_METRES_PER_DEGREE: Final = 111_195.0
_DISTRICTS: Final = ("Kamppi", "Punavuori", "Kluuvi", "Helsinki", "Centre", "Ullanlinna")
_ONLY_GOOGLE_WORDS: Final = (
    "Aurora", "Kettu", "Lokki", "Mesi", "Nokka", "Otso", "Pilvi", "Routa", "Sisu", "Tuuli", "Ukko", "Vire",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class LabelledSet:
    places: tuple[FakePlace, ...]
    """What the fake Google serves."""
    truth: Mapping[str, str]
    """Google place id -> the OSM key ("node/123") of the element it is, for every place that is one."""


@lru_cache(maxsize=2)
def labelled_set(data: OsmData) -> LabelledSet:
    places: list[FakePlace] = []
    truth: dict[str, str] = {}
    food = [place for place in google_places(data) if place.primary_type in FOOD_TYPES]
    for place in google_places(data):
        if place.primary_type not in FOOD_TYPES:
            places.append(place)
            truth[place.id] = place.osm_key
            continue
        rng = random.Random(place.osm_key)
        if rng.random() < 0.07:
            continue
        served = _perturbed(place, rng)
        places.append(served)
        truth[served.id] = place.osm_key
        places.extend(_distractors(served, rng))
    places.extend(_only_on_google(food))
    return LabelledSet(places=tuple(places), truth=truth)


def _perturbed(place: FakePlace, rng: random.Random) -> FakePlace:
    name = name_variant(place.name, place.primary_type, rng)
    lon, lat = moved(place.lon, place.lat, rng.uniform(0, MAX_MOVE_M), rng)
    primary = place.primary_type
    if rng.random() < 0.10:
        primary = rng.choice([kind for kind in FOOD_TYPES if kind != primary])
    tags = {key: value for key, value in place.tags.items() if not key.startswith("name")}
    return replace(
        place, name=name, tags=tags, lon=lon, lat=lat, primary_type=primary, types=_types_for(primary)
    )


def _distractors(place: FakePlace, rng: random.Random) -> list[FakePlace]:
    made = []
    if rng.random() < 0.05:
        lon, lat = moved(place.lon, place.lat, rng.uniform(300, 900), rng)
        made.append(replace(place, id=place_id(place.osm_key + "#branch"), osm_key="", lon=lon, lat=lat))
    if rng.random() < 0.05:
        lon, lat = moved(place.lon, place.lat, rng.uniform(0, 30), rng)
        kind = rng.choice(OTHER_KINDS)
        made.append(
            replace(
                place,
                id=place_id(place.osm_key + "#next-door"),
                osm_key="",
                lon=lon,
                lat=lat,
                primary_type=kind,
                types=_types_for(kind),
            )
        )
    return made


def _only_on_google(food: list[FakePlace]) -> list[FakePlace]:
    rng = random.Random("only-on-google")
    west, east = min(p.lon for p in food), max(p.lon for p in food)
    south, north = min(p.lat for p in food), max(p.lat for p in food)
    made = []
    for number in range(round(0.07 * len(food))):
        kind = rng.choice(FOOD_TYPES)
        name = f"{rng.choice(_ONLY_GOOGLE_WORDS)} {rng.choice(_ONLY_GOOGLE_WORDS)} {number}"
        made.append(
            FakePlace(
                id=place_id(f"only-on-google/{number}"),
                osm_key="",
                name=name,
                tags={},
                lat=rng.uniform(south, north),
                lon=rng.uniform(west, east),
                primary_type=kind,
                types=_types_for(kind),
                popularity=rng.getrandbits(32),
            )
        )
    return made


def moved(lon: float, lat: float, metres: float, rng: random.Random) -> tuple[float, float]:
    bearing = rng.uniform(0, 2 * math.pi)
    north = metres * math.cos(bearing) / _METRES_PER_DEGREE
    east = metres * math.sin(bearing) / (_METRES_PER_DEGREE * math.cos(math.radians(lat)))
    return round(lon + east, 7), round(lat + north, 7)


_KIND_WORD: Final = {"cafe": ("Cafe", "Café", "Coffee", "Kahvila"), "restaurant": ("Ravintola", "Restaurant"), "bar": ("Bar", "Pub", "Baari")}  # fmt: skip
_ANY_KIND_WORD: Final = re.compile(
    r"\b(" + "|".join(word for words in _KIND_WORD.values() for word in words) + r")\b", re.IGNORECASE
)


def name_variant(name: str, kind: str, rng: random.Random) -> str:
    variants: list[tuple[float, Callable[[], str]]] = [
        (0.25, lambda: name),
        (0.08, lambda: name.upper() if rng.random() < 0.5 else name.lower()),
        (0.08, lambda: anyascii(name) if anyascii(name) != name else name.replace("e", "é", 1)),
        (
            0.08,
            lambda: name.replace("&", "and").replace("'", "").replace("-", " ") + rng.choice(("", ".", "!")),
        ),
        (0.10, lambda: " ".join(reversed(name.split()))),
        (0.15, lambda: _kind_word_swapped(name, kind, rng)),
        (0.08, lambda: f"{name} {rng.choice(('Oy', 'Ltd', 'Ab'))}"),
        (0.10, lambda: f"{name} {rng.choice(_DISTRICTS)}"),
        (0.08, lambda: re.sub(r"\s*\(.*?\)", "", name) or name),
    ]
    draw = rng.random() * sum(weight for weight, _ in variants)
    for weight, variant in variants:
        draw -= weight
        if draw <= 0:
            return variant()
    return name


def _kind_word_swapped(name: str, kind: str, rng: random.Random) -> str:
    without = _ANY_KIND_WORD.sub("", name).strip(" -&,")
    if not without:
        return name
    word = rng.choice(_KIND_WORD[kind])
    return f"{word} {without}" if rng.random() < 0.5 else f"{without} {word}"
