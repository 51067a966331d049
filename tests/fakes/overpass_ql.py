"""The subset of Overpass QL the fake Overpass server understands, and its evaluation.

Supported (anything else is a parse error, answered 400 like the real server):

    [out:json][timeout:25][maxsize:536870912];      settings; `out` must be json
    (                                                a union, nestable
      nwr["amenity"="cafe"](poly:"60.16 24.93 60.17 24.93 60.17 24.95");
      node["shop"~"^(bakery|supermarket)$"](60.16,24.93,60.18,24.96);
      way["leisure"="park"]["name"];
    );
    out center tags;                                 also `out tags center;`, `out;`, `out ids 10;` ...

- query types: node, way, rel/relation, nwr, nw, nr, wr
- tag filters: ["k"="v"], ["k"!="v"], ["k"], [!"k"], ["k"~"re"], ["k"!~"re"], ["k"~"re",i];
  keys and values quoted ("..." or '...') or bare words
- spatial filters: (poly:"lat lon lat lon ...") and (south,west,north,east)
- out: verbosity ids|skel|body|tags (default body), `center`, `qt`/`asc`, an element limit
- `//` and `/* */` comments
- `._` (the input set) and `>` (recurse down: ways' nodes, relations' members, as far as the
  extract holds them: it keeps tagged elements only), as OSMnx sends them: `(way[...](...);>;);`
Not supported: `around`, `area`, `id:`, `if:`, `<`, `>>`, named sets, `geom`, `meta`,
`bb`, `[bbox:]`/`[date:]`/`[out:xml]` settings, `is_in`, `foreach`, `make`/`convert`.

Spatial semantics follow Overpass: a node matches when it lies inside (or on the edge of) the
area; a way when one of its segments touches it; a relation when one of its direct node or way
members does. Ways and relations are therefore returned even if their centre lies outside the
queried area: clients clip by centre themselves.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import shapely
from shapely.geometry.base import BaseGeometry

from tests.fakes.extract import ElementType, OsmData, OsmElement

QUERY_TYPES: dict[str, tuple[ElementType, ...]] = {
    "node": ("node",),
    "way": ("way",),
    "rel": ("relation",),
    "relation": ("relation",),
    "nwr": ("node", "way", "relation"),
    "nw": ("node", "way"),
    "nr": ("node", "relation"),
    "wr": ("way", "relation"),
}
Verbosity = Literal["ids", "skel", "body", "tags"]
TagOp = Literal["exists", "not_exists", "eq", "ne", "regex", "not_regex"]


class QLError(ValueError):
    """A parse or static error, with the line it was found on (1-based)."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True, slots=True)
class TagFilter:
    key: str
    op: TagOp
    value: str = ""
    ignore_case: bool = False
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @staticmethod
    def make(key: str, op: TagOp, value: str = "", ignore_case: bool = False) -> TagFilter:
        regex = None
        if op in ("regex", "not_regex"):
            regex = re.compile(value, re.IGNORECASE if ignore_case else 0)
        return TagFilter(key, op, value, ignore_case, regex)

    def matches(self, tags: Mapping[str, str]) -> bool:
        present = self.key in tags
        if self.op == "exists":
            return present
        if self.op == "not_exists":
            return not present
        if self.op == "eq":
            return present and tags[self.key] == self.value
        if self.op == "ne":
            return not present or tags[self.key] != self.value
        assert self._regex is not None
        found = present and self._regex.search(tags[self.key]) is not None
        return found if self.op == "regex" else not found


@dataclass(frozen=True, slots=True)
class Query:
    """`nwr[...](...)`: element types, tag filters (AND) and spatial filters (AND)."""

    types: tuple[ElementType, ...]
    tags: tuple[TagFilter, ...]
    areas: tuple[BaseGeometry, ...]
    line: int


@dataclass(frozen=True, slots=True)
class Item:
    """`._`: the input set, as it is."""

    line: int


@dataclass(frozen=True, slots=True)
class RecurseDown:
    """`>`: the input set's ways' nodes and relations' members (those the extract holds)."""

    line: int


@dataclass(frozen=True, slots=True)
class Union:
    members: tuple[SetStatement, ...]
    line: int


SetStatement = Query | Union | Item | RecurseDown


@dataclass(frozen=True, slots=True)
class Out:
    verbosity: Verbosity
    center: bool
    limit: int | None
    line: int


Statement = Query | Union | Item | RecurseDown | Out


@dataclass(frozen=True, slots=True)
class Program:
    timeout_s: int
    maxsize: int
    statements: tuple[Statement, ...]

    @property
    def last_out_line(self) -> int:
        lines = [statement.line for statement in self.statements if isinstance(statement, Out)]
        return lines[-1] if lines else self.first_query_line

    @property
    def first_query_line(self) -> int:
        for statement in self.statements:
            if not isinstance(statement, Out):
                return statement.line
        return 1


UNSUPPORTED = "is not supported by the fake Overpass server"
DEFAULT_TIMEOUT_S = 180
DEFAULT_MAXSIZE = 512 * 1024 * 1024

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>!=|!~|->|[\[\]();:,~=!.>])
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class Token:
    kind: Literal["string", "number", "word", "op", "end"]
    text: str
    line: int


def _unquote(raw: str, line: int) -> str:
    body = raw[1:-1]
    if raw[0] == "'":
        body = body.replace('\\"', '"').replace('"', '\\"').replace("\\'", "'")
    try:
        value = json.loads(f'"{body}"')
    except json.JSONDecodeError as exc:
        raise QLError(f"invalid escape sequence in string {raw}", line) from exc
    assert isinstance(value, str)
    return value


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    line = 1
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise QLError(f"unknown character '{text[pos]}'", line)
        kind = match.lastgroup
        value = match.group()
        if kind == "string":
            tokens.append(Token("string", _unquote(value, line), line))
        elif kind in ("number", "word", "op"):
            tokens.append(Token(kind, value, line))  # type: ignore[arg-type]
        line += value.count("\n")
        pos = match.end()
    tokens.append(Token("end", "", line))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.pos]

    def next(self) -> Token:
        token = self.tokens[self.pos]
        if token.kind != "end":
            self.pos += 1
        return token

    def at(self, text: str) -> bool:
        token = self.current
        return token.kind in ("op", "word") and token.text == text

    def expect(self, text: str) -> Token:
        token = self.next()
        if token.kind not in ("op", "word") or token.text != text:
            shown = token.text or "end of input"
            raise QLError(f"'{text}' expected - '{shown}' found.", token.line)
        return token

    def value(self, what: str) -> str:
        token = self.next()
        if token.kind in ("string", "word", "number"):
            return token.text
        raise QLError(f"{what} expected - '{token.text or 'end of input'}' found.", token.line)

    # program := settings? statement*
    def program(self) -> Program:
        timeout_s = DEFAULT_TIMEOUT_S
        maxsize = DEFAULT_MAXSIZE
        output = "xml"
        if self.at("["):
            while self.at("["):
                self.next()
                name_token = self.next()
                name = name_token.text
                self.expect(":")
                value = self.value(f"value for '{name}'")
                self.expect("]")
                if name == "out":
                    output = value
                elif name in ("timeout", "maxsize"):
                    if not value.isdigit() or int(value) <= 0:
                        raise QLError(
                            f'For the attribute "{name}" the only allowed values are positive integers.',
                            name_token.line,
                        )
                    if name == "timeout":
                        timeout_s = int(value)
                    else:
                        maxsize = int(value)
                else:
                    raise QLError(f"setting '{name}' {UNSUPPORTED}", name_token.line)
            self.expect(";")
        if output != "json":
            raise QLError("the fake Overpass server only supports [out:json]", 1)
        statements: list[Statement] = []
        while self.current.kind != "end":
            statements.append(self.statement())
        if not statements:
            raise QLError("empty query", self.current.line)
        return Program(timeout_s, maxsize, tuple(statements))

    def statement(self) -> Statement:
        token = self.current
        result: Statement
        if self.at("("):
            result = self.union()
        elif token.kind == "word" and token.text == "out":
            result = self.out()
        elif token.kind == "word" and token.text in QUERY_TYPES:
            result = self.query()
        elif self.at("."):
            self.next()
            name = self.next()
            if name.text != "_":
                raise QLError(f"named sets {UNSUPPORTED}", name.line)
            result = Item(token.line)
        elif token.kind == "op" and token.text == ">":
            self.next()
            result = RecurseDown(token.line)
        else:
            raise QLError(f'Unknown type "{token.text or "end of input"}"', token.line)
        if self.at("->"):
            raise QLError(f"named sets {UNSUPPORTED}", self.current.line)
        self.expect(";")
        return result

    def union(self) -> Union:
        start = self.expect("(")
        members: list[SetStatement] = []
        while not self.at(")"):
            if self.current.kind == "end":
                raise QLError("')' expected - end of input found.", self.current.line)
            member = self.statement()
            if isinstance(member, Out):
                raise QLError("out is not allowed inside a union", member.line)
            members.append(member)
        self.expect(")")
        return Union(tuple(members), start.line)

    def query(self) -> Query:
        type_token = self.next()
        tags: list[TagFilter] = []
        areas: list[BaseGeometry] = []
        while self.at("[") or self.at("("):
            if self.at("["):
                tags.append(self.tag_filter())
            else:
                areas.append(self.spatial_filter())
        return Query(QUERY_TYPES[type_token.text], tuple(tags), tuple(areas), type_token.line)

    def tag_filter(self) -> TagFilter:
        self.expect("[")
        if self.at("!"):
            self.next()
            key = self.value("key")
            self.expect("]")
            return TagFilter.make(key, "not_exists")
        if self.at("~"):
            raise QLError(f"key regular expressions {UNSUPPORTED}", self.current.line)
        key = self.value("key")
        op: TagOp
        if self.at("]"):
            self.next()
            return TagFilter.make(key, "exists")
        operator = self.next()
        if operator.text == "=":
            op = "eq"
        elif operator.text == "!=":
            op = "ne"
        elif operator.text == "~":
            op = "regex"
        elif operator.text == "!~":
            op = "not_regex"
        else:
            raise QLError(f"'=', '!=', '~' or ']' expected - '{operator.text}' found.", operator.line)
        value = self.value("value")
        ignore_case = False
        if op in ("regex", "not_regex") and self.at(","):
            self.next()
            flag = self.next()
            if flag.text != "i":
                raise QLError(f"'i' expected - '{flag.text}' found.", flag.line)
            ignore_case = True
        self.expect("]")
        try:
            return TagFilter.make(key, op, value, ignore_case)
        except re.error as exc:
            raise QLError(f'Invalid regular expression: "{value}": {exc}', operator.line) from exc

    def spatial_filter(self) -> BaseGeometry:
        start = self.expect("(")
        if self.at("poly"):
            self.next()
            self.expect(":")
            text = self.next()
            if text.kind != "string":
                raise QLError("a string of coordinates expected after 'poly:'", text.line)
            area = parse_poly(text.text, text.line)
        elif self.current.kind == "number":
            numbers = [self.number()]
            for _ in range(3):
                self.expect(",")
                numbers.append(self.number())
            south, west, north, east = numbers
            if not (-90 <= south <= north <= 90) or not (-180 <= west <= 180 and -180 <= east <= 180):
                raise QLError("Invalid bbox: need south <= north, values in range.", start.line)
            if west > east:
                raise QLError(f"a bbox crossing the date line {UNSUPPORTED}", start.line)
            area = shapely.box(west, south, east, north)
        else:
            raise QLError(f"filter '({self.current.text}' {UNSUPPORTED}", start.line)
        self.expect(")")
        return area

    def number(self) -> float:
        token = self.next()
        if token.kind != "number":
            raise QLError(f"number expected - '{token.text or 'end of input'}' found.", token.line)
        return float(token.text)

    def out(self) -> Out:
        start = self.expect("out")
        verbosity: Verbosity = "body"
        center = False
        limit: int | None = None
        while not self.at(";") and self.current.kind != "end":
            token = self.next()
            if token.kind == "number" and token.text.isdigit():
                limit = int(token.text)
            elif token.text in ("ids", "skel", "body", "tags"):
                verbosity = token.text  # type: ignore[assignment]
            elif token.text == "center":
                center = True
            elif token.text in ("qt", "asc"):
                pass  # the fake always prints in id order
            else:
                raise QLError(f"out mode '{token.text}' {UNSUPPORTED}", token.line)
        return Out(verbosity, center, limit, start.line)


def parse_poly(text: str, line: int = 1) -> BaseGeometry:
    """`"lat lon lat lon ..."` -> a shapely Polygon in (lon, lat)."""
    parts = text.split()
    if len(parts) < 6 or len(parts) % 2:
        raise QLError("A polygon needs an even number of at least 6 coordinates (lat lon pairs).", line)
    try:
        values = [float(part) for part in parts]
    except ValueError as exc:
        raise QLError(f"invalid number in polygon: {exc}", line) from exc
    coords = [(values[i + 1], values[i]) for i in range(0, len(values), 2)]
    for lon, lat in coords:
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise QLError("Latitude and longitude of polygon points must be in range.", line)
    return shapely.Polygon(coords)


def parse(text: str) -> Program:
    """Parse an Overpass QL program (the supported subset); raise QLError on anything else."""
    return _Parser(text).program()


# --- evaluation --------------------------------------------------------------------------------


def _candidates(data: OsmData, query: Query) -> Sequence[int]:
    for tag in query.tags:
        if tag.op in ("exists", "eq", "regex"):
            return data.by_key.get(tag.key, ())
    return range(len(data.elements))


def evaluate_query(data: OsmData, query: Query) -> list[int]:
    """Indexes into `data.elements` of the elements one query statement selects."""
    chosen: list[int] = []
    for index in _candidates(data, query):
        element = data.elements[index]
        if element.type in query.types and all(tag.matches(element.tags) for tag in query.tags):
            chosen.append(index)
    for area in query.areas:
        if not chosen:
            break
        shapely.prepare(area)
        geometries = [data.elements[i].geometry for i in chosen]
        hits = shapely.intersects(area, geometries)
        chosen = [index for index, hit in zip(chosen, hits, strict=True) if hit]
    return chosen


def evaluate_set(data: OsmData, statement: SetStatement, current: Sequence[int] = ()) -> list[int]:
    """The elements a statement selects, given the input set `current` (what `._` and `>` read).

    In a union each member's result is the next member's input, as in Overpass."""
    if isinstance(statement, Query):
        return evaluate_query(data, statement)
    if isinstance(statement, Item):
        return list(current)
    if isinstance(statement, RecurseDown):
        return _recurse_down(data, current)
    found: set[int] = set()
    for member in statement.members:
        current = evaluate_set(data, member, current)
        found.update(current)
    return sorted(found)  # elements are stored in Overpass's output order


def _recurse_down(data: OsmData, current: Sequence[int]) -> list[int]:
    positions = _positions(data)
    found: set[int] = set()
    pending = list(current)
    while pending:
        element = data.elements[pending.pop()]
        refs = [("node", ref) for ref in element.nodes] + [(m.type, m.ref) for m in element.members]
        for member_type, ref in refs:
            position = positions.get((member_type, ref))
            if position is not None and position not in found:
                found.add(position)
                if member_type == "way":
                    pending.append(position)  # a member way's nodes too, as Overpass's `>` gives
    return sorted(found)


@functools.lru_cache(maxsize=4)
def _positions(data: OsmData) -> dict[tuple[str, int], int]:
    return {(element.type, element.id): index for index, element in enumerate(data.elements)}


def render_element(element: OsmElement, out: Out) -> dict[str, object]:
    """One element as Overpass's JSON prints it for the given `out` mode."""
    result: dict[str, object] = {"type": element.type, "id": element.id}
    coords = out.verbosity in ("skel", "body") or out.center
    if element.type == "node":
        if coords:
            result["lat"] = element.lat
            result["lon"] = element.lon
    else:
        if out.center:
            result["center"] = {"lat": element.lat, "lon": element.lon}
        if out.verbosity in ("skel", "body"):
            if element.type == "way" and element.nodes:
                result["nodes"] = list(element.nodes)
            if element.type == "relation" and element.members:
                result["members"] = [{"type": m.type, "ref": m.ref, "role": m.role} for m in element.members]
    if out.verbosity in ("body", "tags") and element.tags:
        result["tags"] = dict(element.tags)
    return result


def run(data: OsmData, program: Program) -> list[tuple[OsmElement, Out]]:
    """Run a program: (element, out mode) for every element it prints, in order."""
    printed: list[tuple[OsmElement, Out]] = []
    current: list[int] = []
    for statement in program.statements:
        if isinstance(statement, Out):
            selected = current if statement.limit is None else current[: statement.limit]
            printed.extend((data.elements[index], statement) for index in selected)
        else:
            current = evaluate_set(data, statement, current)
    return printed


# --- cost --------------------------------------------------------------------------------------


def _queries(statement: SetStatement) -> list[Query]:
    if isinstance(statement, Query):
        return [statement]
    if isinstance(statement, Union):
        return [query for member in statement.members for query in _queries(member)]
    return []


def scan_boxes(program: Program) -> list[tuple[float, float, float, float] | None]:
    """The bbox (west, south, east, north) each query statement has to scan; None: the whole data set.

    Overpass answers a spatial query from its spatial index: it reads every element of the index
    blocks that overlap the area before it tests the tags, so what a statement costs grows with the
    data inside its bounding box, not with what it finally selects.
    """
    boxes: list[tuple[float, float, float, float] | None] = []
    for statement in program.statements:
        if isinstance(statement, Out):
            continue
        for query in _queries(statement):
            if not query.areas:
                boxes.append(None)
                continue
            west, south, east, north = query.areas[0].bounds
            for area in query.areas[1:]:
                w, s, e, n = area.bounds
                west, south, east, north = max(west, w), max(south, s), min(east, e), min(north, n)
            boxes.append((west, south, east, north))
    return boxes
