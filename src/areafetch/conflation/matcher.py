"""Link the records of different sources that are the same real place.

- **OSM and OSM** (Overpass and an extract): the same element id is the same place.
- **OSM and Google**: candidates come from a spatial index (shapely's STRtree) within the largest
  distance any kind allows. A candidate pair must pass the kind gate (`kinds.may_be_same`) and lie
  within its kinds' distance (`kinds.extent_m`). It is then scored on the names' similarity
  (`names.name_similarity`) and the distance, and agreeing phone numbers or websites add evidence. A
  place without a name on either side is linked only on a phone number or website they share, never
  by position and kind alone.
- **One to one**: pairs are taken best score first, and a pair is refused when it would put two
  records of one source into one place. So no record is linked to two records of another source.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import shapely
from pyproj import Geod

from areafetch.areas.sources import OSM_SOURCES
from areafetch.conflation.kinds import extent_m, kin_closure, may_be_same
from areafetch.conflation.names import name_similarity

__all__ = ["NAME_SIMILARITY_MIN", "Link", "MatchPlace", "link_places"]


NAME_SIMILARITY_MIN: Final = 0.8
"""Names at least this alike (after folding) may be one place by name."""
_NAME_SIMILARITY_WITH_CONTACT: Final = 0.5
"""Names this alike are enough when a phone number or website agrees too."""
_NAME_WEIGHT: Final = 0.7
_CONTACT_BONUS: Final = 0.1
_CONTACT_ONLY_SCORE: Final = 0.6
_METRES_PER_DEGREE: Final = 111_195.0  # on a sphere of radius 6,371,008.8 m
_WGS84: Final = Geod(ellps="WGS84")
_QUERY_BATCH: Final = 5000
_NOT_DIGIT: Final = re.compile(r"\D")
_PHONE_DIGITS: Final = 8  # the subscriber part: "+358 9 123 4567" and "09 123 4567" agree on it


@dataclass(frozen=True, slots=True)
class MatchPlace:
    """What the matcher needs of one stored place."""

    id: int
    source: str
    source_id: str
    name: str | None
    kinds: frozenset[str]
    lon: float
    lat: float
    phone: str | None = None
    website: str | None = None


@dataclass(frozen=True, slots=True)
class Link:
    """One place joined to another: `place_id` to `linked_with`, in the group of `group_id` (its smallest
    place id). Every group of n places has n - 1 links."""

    place_id: int
    linked_with: int
    group_id: int
    score: float
    reasons: dict[str, object] = field(hash=False)


@dataclass(frozen=True, slots=True)
class _Pair:
    score: float
    distance_m: float
    first: int
    second: int
    reasons: dict[str, object] = field(hash=False)


def link_places(places: Sequence[MatchPlace]) -> list[Link]:
    """The links between records of different sources that are one place (see the module)."""
    by_id = {place.id: place for place in places}
    pairs = sorted(
        [*_same_osm_element(places), *_osm_google_pairs(places)],
        key=lambda pair: (-pair.score, pair.distance_m, pair.first, pair.second),
    )
    groups = _Groups(by_id)
    accepted = [pair for pair in pairs if groups.join(pair.first, pair.second)]
    return list(_rooted_links(accepted))


def _same_osm_element(places: Sequence[MatchPlace]) -> Iterator[_Pair]:
    first_seen: dict[str, MatchPlace] = {}
    for place in places:
        if place.source not in OSM_SOURCES:
            continue
        other = first_seen.setdefault(place.source_id, place)
        if other.source != place.source:
            yield _Pair(1.0, 0.0, other.id, place.id, {"same_osm_element": True})


def _osm_google_pairs(places: Sequence[MatchPlace]) -> Iterator[_Pair]:
    osm = [place for place in places if place.source in OSM_SOURCES]
    google = [place for place in places if place.source == "google_places"]
    if not osm or not google:
        return
    project = _projection(places)
    tree = shapely.STRtree(shapely.points([project(place) for place in osm]))
    # In batches, each place searched only as far as its own kinds allow: a region's candidate pairs
    # stay a few per place, not every place within the largest distance any kind has (an airport's).
    for start in range(0, len(google), _QUERY_BATCH):
        batch = google[start : start + _QUERY_BATCH]
        reach = [extent_m(kin_closure(place.kinds)) for place in batch]
        points = shapely.points([project(place) for place in batch])
        batch_index, osm_index = tree.query(points, predicate="dwithin", distance=reach)
        yield from _scored_pairs([osm[o] for o in osm_index], [batch[g] for g in batch_index])


def _scored_pairs(osm: list[MatchPlace], google: list[MatchPlace]) -> Iterator[_Pair]:
    if not osm:
        return
    _, _, distances = _WGS84.inv(
        [place.lon for place in osm], [place.lat for place in osm],
        [place.lon for place in google], [place.lat for place in google],
    )  # fmt: skip
    for first, second, distance in zip(osm, google, distances, strict=True):
        pair = _scored(first, second, float(distance))
        if pair is not None:
            yield pair


def _projection(places: Sequence[MatchPlace]) -> _Equirectangular:
    lat0 = float(np.median([place.lat for place in places]))
    return _Equirectangular(math.cos(math.radians(lat0)))


@dataclass(frozen=True, slots=True)
class _Equirectangular:
    """Metres east and north: exact enough over the few hundred metres a match spans."""

    cos_lat0: float

    def __call__(self, place: MatchPlace) -> tuple[float, float]:
        return place.lon * self.cos_lat0 * _METRES_PER_DEGREE, place.lat * _METRES_PER_DEGREE


def _scored(osm: MatchPlace, google: MatchPlace, distance: float) -> _Pair | None:
    if not may_be_same(osm.kinds, google.kinds):
        return None
    shared = (kin_closure(osm.kinds) & google.kinds) | (kin_closure(google.kinds) & osm.kinds)
    allowed = extent_m(shared)
    if distance > allowed:
        return None
    nearness = 1 - distance / allowed
    contact = _same_contact(osm, google)
    similarity = name_similarity(osm.name, google.name) if osm.name and google.name else None
    if similarity is not None and similarity >= NAME_SIMILARITY_MIN:
        score = _NAME_WEIGHT * similarity + (1 - _NAME_WEIGHT) * nearness + (_CONTACT_BONUS if contact else 0)
    elif contact and (similarity is None or similarity >= _NAME_SIMILARITY_WITH_CONTACT):
        score = _CONTACT_ONLY_SCORE + (1 - _NAME_WEIGHT) * nearness
    else:
        return None
    reasons: dict[str, object] = {
        "name_similarity": None if similarity is None else round(similarity, 3),
        "distance_m": round(distance, 1),
        "allowed_m": allowed,
        "kinds": sorted(shared),
    }
    if contact:
        reasons["same_contact"] = contact
    return _Pair(round(min(1.0, score), 4), distance, osm.id, google.id, reasons)


def _same_contact(first: MatchPlace, second: MatchPlace) -> str | None:
    """ "phone" or "website" when both records have it and it agrees, else None."""
    if first.phone and second.phone:
        a, b = _NOT_DIGIT.sub("", first.phone), _NOT_DIGIT.sub("", second.phone)
        if len(a) >= _PHONE_DIGITS and a[-_PHONE_DIGITS:] == b[-_PHONE_DIGITS:]:
            return "phone"
    if first.website and second.website and _site(first.website) == _site(second.website):
        return "website"
    return None


def _site(url: str) -> str:
    """A website without scheme, `www.`, query or trailing slash, in lower case."""
    bare = re.sub(r"^[a-z][a-z0-9+.-]*://", "", url.strip().lower()).split("?", 1)[0].split("#", 1)[0]
    return bare.removeprefix("www.").rstrip("/")


class _Groups:
    """Union-find over place ids that keeps, per group, the sources it holds."""

    def __init__(self, places: dict[int, MatchPlace]) -> None:
        self._parent = {place_id: place_id for place_id in places}
        self._sources = {place_id: frozenset({place.source}) for place_id, place in places.items()}

    def _root(self, place_id: int) -> int:
        while self._parent[place_id] != place_id:
            self._parent[place_id] = self._parent[self._parent[place_id]]
            place_id = self._parent[place_id]
        return place_id

    def join(self, first: int, second: int) -> bool:
        """Join the two places' groups unless they share a source (or are one group already)."""
        a, b = self._root(first), self._root(second)
        if a == b or self._sources[a] & self._sources[b]:
            return False
        self._parent[b] = a
        self._sources[a] |= self._sources.pop(b)
        return True


def _rooted_links(accepted: Sequence[_Pair]) -> Iterator[Link]:
    """Each accepted pair as a link from the place farther from its group's smallest id."""
    neighbours: dict[int, list[_Pair]] = {}
    for pair in accepted:
        neighbours.setdefault(pair.first, []).append(pair)
        neighbours.setdefault(pair.second, []).append(pair)
    seen: set[int] = set()
    for root in sorted(neighbours):
        if root in seen:
            continue
        seen.add(root)
        stack = [root]
        while stack:
            current = stack.pop()
            for pair in neighbours[current]:
                other = pair.second if pair.first == current else pair.first
                if other not in seen:
                    seen.add(other)
                    stack.append(other)
                    yield Link(other, current, root, pair.score, pair.reasons)
