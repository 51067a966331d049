"""Places from a local `.osm.pbf` extract, read with pyosmium: what Overpass would answer, offline.

The read is CPU work for the worker's process pool, and an extract may hold millions of places,
so the worker streams them: `extract_place_chunks` runs `write_extract_rows` in the pool, which
writes the places in chunks (pickled lists of tuples) into a FIFO, and hands each chunk to the
worker as it arrives; the pipe's back-pressure keeps both processes at a chunk or two in memory.
`read_extract_places` returns them all in one list, in Overpass's order (for tests and small reads).

The read goes through the file and keeps only what it needs:

1. relations carrying a wanted tag (the file's relations only);
2. nodes and ways carrying a wanted tag (pyosmium's tag filter runs in C++, so Python sees only
   those), while pyosmium's location cache collects every node location;
3. only if some wanted relation has way members: those ways (an id filter), for their nodes.

Centres follow Overpass's ``out center`` (and `tests/fakes/extract.py`): a way's is the centre
of the bounding box of its nodes' locations; a relation's the centre of the bounding box of its
direct node members and the nodes of its direct way members (sub-relations add nothing); both
rounded to 7 decimals as Overpass prints them. Elements that cannot be placed are skipped.

The bbox keeps places whose point (node location or centre) lies in it, edges included; clipping
to the real polygon is the caller's, as for Overpass. pyosmium has no reader-side bbox filter
(the location cache needs every node), so the bbox is tested on the few tagged elements.

Memory of the pool process: the location cache (``flex_mem``) grows with the nodes of the file,
whatever the bbox: about 20 MB for a million nodes (measured; a disk-backed index such as
``sparse_file_array`` counts about the same in RSS, its mapped pages being resident); the rest is
pyosmium's read-ahead buffers and a chunk of places.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import os
import pickle
import struct
import tempfile
from collections.abc import AsyncGenerator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import osmium
import osmium.filter
import osmium.index
import osmium.osm

from areafetch.areas import Place
from areafetch.areas.attributes import osm_attributes
from areafetch.areas.categories import category_for_osm_tags
from areafetch.providers._osm import osm_tag_pairs

if TYPE_CHECKING:
    from areafetch.cpu import CpuPool

__all__ = ["CHUNK_SIZE", "extract_place_chunks", "read_extract_places", "write_extract_rows"]

CHUNK_SIZE = 10_000  # places per chunk from the pool process to the worker: about 1 MB pickled
DEFAULT_LOCATION_STORAGE = "flex_mem"

_TYPE_ORDER = {"node": 0, "way": 1, "relation": 2}
_FRAME_HEADER = struct.Struct(">Q")  # the length of the pickled chunk that follows

_Found = tuple[str, int, dict[str, str], float, float]  # kind, OSM id, tags, lon, lat
_Row = tuple[str, str | None, str, float, float, dict[str, str]]  # source_id, name, category, lon, lat, tags


@dataclass(frozen=True, slots=True)
class _Relation:
    id: int
    tags: dict[str, str]
    node_refs: tuple[int, ...]
    way_refs: tuple[int, ...]


def _round7(value: float) -> float:
    return round(value, 7)


def _bbox_centre(lons: list[float], lats: list[float]) -> tuple[float, float]:
    return _round7((min(lons) + max(lons)) / 2), _round7((min(lats) + max(lats)) / 2)


def _tags(obj: osmium.osm.Node | osmium.osm.Way | osmium.osm.Relation) -> dict[str, str]:
    return {tag.k: tag.v for tag in obj.tags}


def _properties(obj: osmium.osm.Node) -> dict[str, str]:
    """The tags `GeoInterfaceFilter` put in the object's ``__geo_interface__``, else read here."""
    geo = getattr(obj, "__geo_interface__", None)
    if geo is None:
        return _tags(obj)
    properties: dict[str, str] = geo["properties"]
    return properties


def _element_filter(pairs: list[tuple[str, str | None]]) -> Any:
    """pyosmium's filter for the pairs: by tag, or by key when a bare-key filter (any value) is
    among them (a superset; `category_for_osm_tags` then keeps only the elements asked for)."""
    exact = [(key, value) for key, value in pairs if value is not None]
    if len(exact) == len(pairs):
        return osmium.filter.TagFilter(*exact)
    return osmium.filter.KeyFilter(*dict.fromkeys(key for key, _ in pairs))


def _wanted_relations(path: str, pairs: list[tuple[str, str | None]]) -> list[_Relation]:
    relations: list[_Relation] = []
    processor = osmium.FileProcessor(path, osmium.osm.RELATION).with_filter(_element_filter(pairs))
    for relation in processor:
        if not isinstance(relation, osmium.osm.Relation):
            continue
        node_refs: list[int] = []
        way_refs: list[int] = []
        for member in relation.members:
            if member.type == "n":
                node_refs.append(member.ref)
            elif member.type == "w":
                way_refs.append(member.ref)
        relations.append(_Relation(relation.id, _tags(relation), tuple(node_refs), tuple(way_refs)))
    return relations


def _node_location(store: osmium.index.LocationTable, ref: int) -> tuple[float, float] | None:
    try:
        location = store.get(ref)
    except (KeyError, IndexError):
        return None
    if not location.valid():
        return None
    return location.lon, location.lat


def _member_way_coords(
    path: str, way_ids: set[int], store: osmium.index.LocationTable
) -> dict[int, list[tuple[float, float]]]:
    coords: dict[int, list[tuple[float, float]]] = {}
    processor = osmium.FileProcessor(path, osmium.osm.WAY).with_filter(osmium.filter.IdFilter(way_ids))
    for way in processor:
        if isinstance(way, osmium.osm.Way):
            points = [_node_location(store, node.ref) for node in way.nodes]
            coords[way.id] = [point for point in points if point is not None]
    return coords


def _check_arguments(
    path: str, bbox: tuple[float, float, float, float], categories: tuple[str, ...]
) -> list[tuple[str, str | None]]:
    """The OSM tag pairs of ``categories``; raises on a missing file, a bad bbox or no categories."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"OSM extract not found: {path}")
    west, south, east, north = bbox
    if not (west <= east and south <= north):
        raise ValueError(f"bbox must be (west, south, east, north), got {bbox}")
    pairs = osm_tag_pairs(categories)
    if not pairs:
        raise ValueError("no categories asked for")
    return pairs


def _iter_found(
    path: str,
    bbox: tuple[float, float, float, float],
    pairs: list[tuple[str, str | None]],
    location_storage: str,
) -> Iterator[_Found]:
    """The tagged elements whose point lies in ``bbox``, as the file holds them (nodes and ways),
    then the relations. Holds only the wanted relations, never the nodes or ways it has passed."""
    west, south, east, north = bbox

    def inside(lon: float, lat: float) -> bool:
        return west <= lon <= east and south <= lat <= north

    relations = _wanted_relations(path, pairs)

    # For the nodes, the tags come as a dict built in C++ (GeoJSON properties): a third of the
    # cost of iterating them in Python. Not for ways: their geometry fails on a missing node.
    node_tags = osmium.filter.GeoInterfaceFilter(drop_invalid_geometries=False)
    node_tags.enable_for(osmium.osm.NODE)
    processor = (
        osmium.FileProcessor(path, osmium.osm.NODE | osmium.osm.WAY)
        .with_locations(location_storage)
        .with_filter(_element_filter(pairs))
        .with_filter(node_tags)
    )
    for obj in processor:
        if isinstance(obj, osmium.osm.Node):
            if obj.location.valid():
                lon, lat = _round7(obj.location.lon), _round7(obj.location.lat)
                if inside(lon, lat):
                    yield "node", obj.id, _properties(obj), lon, lat
        elif isinstance(obj, osmium.osm.Way):
            valid = [node.location for node in obj.nodes if node.location.valid()]
            if valid:
                lon, lat = _bbox_centre([loc.lon for loc in valid], [loc.lat for loc in valid])
                if inside(lon, lat):
                    yield "way", obj.id, _tags(obj), lon, lat

    if relations:
        store = processor.node_location_storage
        assert store is not None  # with_locations() above
        member_ways = {ref for relation in relations for ref in relation.way_refs}
        way_coords = _member_way_coords(path, member_ways, store) if member_ways else {}
        for relation in relations:
            lons: list[float] = []
            lats: list[float] = []
            for ref in relation.node_refs:
                point = _node_location(store, ref)
                if point is not None:
                    lons.append(point[0])
                    lats.append(point[1])
            for ref in relation.way_refs:
                for lon, lat in way_coords.get(ref, ()):
                    lons.append(lon)
                    lats.append(lat)
            if lons:
                lon, lat = _bbox_centre(lons, lats)
                if inside(lon, lat):
                    yield "relation", relation.id, relation.tags, lon, lat


def _rows(found: Iterable[_Found], categories: tuple[str, ...]) -> Iterator[_Row]:
    for kind, osm_id, tags, lon, lat in found:
        category = category_for_osm_tags(tags, categories)
        if category is not None:
            yield f"{kind}/{osm_id}", tags.get("name"), category, lon, lat, tags


def _place(row: _Row) -> Place:
    source_id, name, category, lon, lat, tags = row
    return Place(
        source="osm_extract",
        source_id=source_id,
        name=name,
        category=category,
        lon=lon,
        lat=lat,
        attributes=osm_attributes(tags),
    )


def read_extract_places(
    path: str,
    bbox: tuple[float, float, float, float],
    categories: tuple[str, ...],
    *,
    location_storage: str = DEFAULT_LOCATION_STORAGE,
) -> list[Place]:
    """The places of ``categories`` in an extract whose point lies in ``bbox``, in Overpass's order.

    All in one list: for a bounded number of places. The worker streams instead
    (`extract_place_chunks`).

    Args:
        path: a `.osm.pbf` (or any format libosmium reads).
        bbox: ``(west, south, east, north)`` in degrees; edges included.
        categories: names from `areafetch.areas.categories.CATEGORIES`.
        location_storage: pyosmium's node location cache (``flex_mem``; for planet-sized files
            a disk-backed one such as ``dense_file_array,<file>``).

    Returns:
        Nodes, then ways, then relations, each by id, with ``source="osm_extract"``.
    """
    pairs = _check_arguments(path, bbox, categories)
    found = sorted(
        _iter_found(path, bbox, pairs, location_storage), key=lambda item: (_TYPE_ORDER[item[0]], item[1])
    )
    return [_place(row) for row in _rows(found, categories)]


# --- streaming: the pool process writes chunks into a pipe, the worker reads them ----------------


def write_extract_rows(
    pipe_path: str,
    path: str,
    bbox: tuple[float, float, float, float],
    categories: tuple[str, ...],
    chunk_size: int = CHUNK_SIZE,
    location_storage: str = DEFAULT_LOCATION_STORAGE,
) -> int:
    """The pool process's half of `extract_place_chunks`: the places as they come in the file
    (nodes, ways, then relations), in frames of at most ``chunk_size`` rows written to the FIFO at
    ``pipe_path``. The pipe's reader sets the pace: a write waits while it is full, so neither side
    holds more than a chunk or two. Returns how many rows were written.

    Raises what `read_extract_places` raises; `BrokenPipeError` once the reader has gone away.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    pairs = _check_arguments(path, bbox, categories)
    rows = _rows(_iter_found(path, bbox, pairs, location_storage), categories)
    # O_NONBLOCK: fail at once (ENXIO) instead of waiting forever if the reader has gone already.
    fd = os.open(pipe_path, os.O_WRONLY | os.O_NONBLOCK)
    os.set_blocking(fd, True)
    written = 0
    with open(fd, "wb") as pipe:
        while chunk := list(itertools.islice(rows, chunk_size)):
            frame = pickle.dumps(chunk, protocol=pickle.HIGHEST_PROTOCOL)
            pipe.write(_FRAME_HEADER.pack(len(frame)))
            pipe.write(frame)
            pipe.flush()
            written += len(chunk)
    return written


async def extract_place_chunks(
    cpu: CpuPool,
    path: str,
    bbox: tuple[float, float, float, float],
    categories: tuple[str, ...],
    *,
    chunk_size: int = CHUNK_SIZE,
) -> AsyncGenerator[list[Place], None]:
    """The places of `read_extract_places`, read in ``cpu``'s process pool and handed over in chunks
    of at most ``chunk_size``, in the file's order (not sorted): memory stays bounded whatever the
    number of places, and the caller stores a chunk while the pool process reads the next.

    The chunks travel through a FIFO in a temporary directory, pickled lists of plain tuples.
    Errors of the read (a missing file, a bad bbox) are raised here once the chunks before them
    have been handed over. Close the iterator (``contextlib.aclosing``) when stopping early: the
    pool process then stops at its next write.
    """
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory(prefix="areafetch-extract-") as directory:
        pipe_path = os.path.join(directory, "places")
        os.mkfifo(pipe_path, 0o600)
        # Opening a FIFO's read end with O_NONBLOCK does not wait for a writer.
        read_end = os.fdopen(os.open(pipe_path, os.O_RDONLY | os.O_NONBLOCK), "rb", buffering=0)
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), read_end)
        # Our own write end keeps the reader from seeing end-of-file before the pool process has
        # opened the pipe; it is closed once that process's work is over (written, failed or gone).
        own_write_end = os.open(pipe_path, os.O_WRONLY | os.O_NONBLOCK)
        task = asyncio.ensure_future(
            cpu.run(write_extract_rows, pipe_path, path, bbox, categories, chunk_size)
        )
        task.add_done_callback(functools.partial(_writer_done, own_write_end))
        try:
            while True:
                try:
                    frame = await _read_frame(reader)
                except asyncio.IncompleteReadError:
                    await task  # the pool process's own error (it died mid-frame), if it has one
                    raise
                if frame is None:
                    break
                yield [_place(row) for row in pickle.loads(frame)]
            await task
        finally:
            transport.close()


def _writer_done(own_write_end: int, task: asyncio.Future[int]) -> None:
    os.close(own_write_end)
    if not task.cancelled():
        task.exception()  # retrieved: raised to the reader, or of no interest once it stopped reading


async def _read_frame(reader: asyncio.StreamReader) -> bytes | None:
    """The next frame, or None at the end; `asyncio.IncompleteReadError` for a frame cut short."""
    try:
        header = await reader.readexactly(_FRAME_HEADER.size)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise
        return None
    (size,) = _FRAME_HEADER.unpack(header)
    return await reader.readexactly(size)
