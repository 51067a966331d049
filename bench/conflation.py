"""Conflation: precision and recall of the links on the labelled set, beside the join a person would
write by hand, and the matcher's time on a region-sized set.

    python -m bench conflation

- **Labelled set** (`tests.fakes.labelled_places`): the Helsinki extract's cafés, restaurants and
  bars as a perturbed Google serves them (name variants, 0-80 m moves, missing places, distractors),
  with the other kinds an area asks for. areafetch's matcher against the hand-written join: the same
  name once lower-cased, the nearest within 50 m, one to one.
- **Scale**: a generated region of 50,000 OSM places and their perturbed Google records (the same
  perturbations), matched in one call: the time and memory a region's finalise spends.
"""

from __future__ import annotations

import math
import random
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from pyproj import Geod
from tests.conflation.test_quality import PRECISION_MIN, RECALL_MIN
from tests.fakes.extract import OsmData, helsinki_extract, load_osm_data
from tests.fakes.labelled_places import FOOD_TYPES, LabelledSet, labelled_set, moved, name_variant
from tests.fakes.labelled_quality import Quality, links_quality, match_places

from areafetch.conflation import Link, MatchPlace, link_places
from areafetch.conflation.kinds import kinds_of_google_place, kinds_of_osm_place
from bench._report import Figure, Report, at_least, save

SCALE_PLACES = 50_000
SCALE_SIDE_M = 20_000.0
HAND_JOIN_M = 50.0
LON0, LAT0 = 24.94, 60.17
_METRES_PER_DEGREE = 111_195.0


@dataclass(frozen=True)
class Measured:
    matcher: str
    links: int
    correct: int
    expected: int
    precision: float
    recall: float
    seconds: float


def main() -> Report:
    data = load_osm_data(helsinki_extract())
    labelled = labelled_set(data)
    places, _ = match_places(data, labelled)
    runs = [_measure("areafetch", link_places, places, data, labelled)]
    runs.append(_measure("by hand: same name, nearest ≤ 50 m", hand_join, places, data, labelled))
    scale_places, scale_seconds, links, peak_mib = _scale()
    header = "| matcher | links | correct | expected | precision | recall | time (s) |\n|---|---:|---:|---:|---:|---:|---:|"
    rows = [
        f"| {r.matcher} | {r.links} | {r.correct} | {r.expected} | {r.precision:.3f} | {r.recall:.3f} | {r.seconds:.2f} |"
        for r in runs
    ]
    scale = (
        f"\n\nScale: {scale_places:,} records ({SCALE_PLACES:,} OSM places and their Google records) "
        f"matched in {scale_seconds:.1f} s, {links:,} links; peak RSS {peak_mib:.0f} MiB."
    )
    markdown = "\n".join([header, *rows]) + scale
    print(markdown)
    ours = runs[0]
    figures: list[Figure] = [
        at_least("conflation precision, labelled set", ours.precision, PRECISION_MIN),
        at_least("conflation recall, labelled set", ours.recall, RECALL_MIN),
        Figure("conflation precision, hand-written join", runs[1].precision, "ratio"),
        Figure("conflation recall, hand-written join", runs[1].recall, "ratio"),
        Figure(f"conflation time, {scale_places:,} records", scale_seconds, "s"),
    ]
    report = Report(
        name="conflation",
        title="Conflation: links of one real place across sources",
        figures=figures,
        markdown=markdown,
        data={
            "runs": [asdict(r) for r in runs],
            "scale": {"records": scale_places, "seconds": scale_seconds, "links": links},
        },
    )
    return save(report)


def _measure(
    name: str,
    matcher: Callable[[Sequence[MatchPlace]], list[Link]],
    places: list[MatchPlace],
    data: OsmData,
    labelled: LabelledSet,
) -> Measured:
    started = time.perf_counter()
    links = matcher(places)
    seconds = time.perf_counter() - started
    quality: Quality = links_quality(data, labelled, places, links)
    return Measured(
        name, quality.links, quality.correct, quality.expected, quality.precision, quality.recall, seconds
    )


def hand_join(places: Sequence[MatchPlace]) -> list[Link]:
    """The join a person writes by hand: equal lower-cased names, the nearest within 50 m, one to one."""
    geod = Geod(ellps="WGS84")
    osm: dict[str, list[MatchPlace]] = {}
    for place in places:
        if place.source != "google_places" and place.name:
            osm.setdefault(place.name.lower(), []).append(place)
    taken: set[int] = set()
    links = []
    for place in places:
        if place.source != "google_places" or not place.name:
            continue
        candidates = [
            (geod.inv(o.lon, o.lat, place.lon, place.lat)[2], o)
            for o in osm.get(place.name.lower(), [])
            if o.id not in taken
        ]
        near = [(d, o) for d, o in candidates if d <= HAND_JOIN_M]
        if near:
            _, best = min(near, key=lambda pair: pair[0])
            taken.add(best.id)
            links.append(Link(place.id, best.id, min(place.id, best.id), 1.0, {}))
    return links


def _scale() -> tuple[int, float, int, float]:
    rng = random.Random("conflation-scale")
    words = _WORDS.split()
    places: list[MatchPlace] = []
    cos_lat = math.cos(math.radians(LAT0))
    for number in range(SCALE_PLACES):
        kind = rng.choice(FOOD_TYPES)
        name = f"{rng.choice(words).title()} {rng.choice(words).title()}"
        lon = LON0 + rng.uniform(0, SCALE_SIDE_M) / (_METRES_PER_DEGREE * cos_lat)
        lat = LAT0 + rng.uniform(0, SCALE_SIDE_M) / _METRES_PER_DEGREE
        places.append(
            MatchPlace(
                2 * number + 1,
                "overpass",
                f"node/{number}",
                name,
                kinds_of_osm_place(kind, {"amenity": kind}),
                lon,
                lat,
            )
        )
        if rng.random() < 0.93:
            glon, glat = moved(lon, lat, rng.uniform(0, 80), rng)
            places.append(
                MatchPlace(
                    2 * number + 2,
                    "google_places",
                    f"g{number}",
                    name_variant(name, kind, rng),
                    kinds_of_google_place(kind, (kind,)),
                    glon,
                    glat,
                )
            )
    started = time.perf_counter()
    links = link_places(places)
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return len(places), seconds, len(links), peak_mib


_WORDS = """aurora kettu lokki mesi nokka otso pilvi routa sisu tuuli ukko vire helmi kaneli kulta lumi
meri metsa omena paju puro rusina sammal satama silta taika tammi tahti usva vaahtera valo
aalto harju kallio koivu kuusi laine linna marja niemi ranta saari sauna selkä joki lahti
golden royal green blue red black white little grand old new happy lucky corner garden
dragon tiger lotus olive rose mint pepper ginger saffron basil lemon cherry maple"""
