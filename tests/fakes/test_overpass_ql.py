"""The QL subset: what parses, what does not (with the line), and what it selects."""

from __future__ import annotations

import pytest
import shapely

from tests.fakes.extract import OsmData
from tests.fakes.overpass_ql import Out, QLError, Query, Union, evaluate_set, parse, run

POLY = "60.165 24.935 60.175 24.935 60.175 24.95 60.165 24.95"


def test_typical_client_query_parses() -> None:
    program = parse(
        f"""[out:json][timeout:25][maxsize:67108864];
        (
          nwr["amenity"="cafe"](poly:"{POLY}");
          node["shop"~"^(bakery|books)$"](60.16,24.93,60.18,24.96);
          way[leisure=park]['name'];  // bare and single-quoted words
          /* a comment */
          rel["type"="multipolygon"][!"building"];
        );
        out center tags;"""
    )
    assert program.timeout_s == 25
    assert program.maxsize == 67108864
    union, out = program.statements
    assert isinstance(union, Union)
    assert isinstance(out, Out)
    assert out.center
    assert out.verbosity == "tags"
    assert out.limit is None
    first, second, third, fourth = union.members
    assert isinstance(first, Query)
    assert first.types == ("node", "way", "relation")
    assert first.tags[0].key == "amenity"
    assert first.tags[0].op == "eq"
    assert first.tags[0].value == "cafe"
    assert first.areas[0].equals(shapely.box(24.935, 60.165, 24.95, 60.175))
    assert isinstance(second, Query)
    assert second.tags[0].op == "regex"
    assert second.areas[0].equals(shapely.box(24.93, 60.16, 24.96, 60.18))
    assert isinstance(third, Query)
    assert [t.op for t in third.tags] == ["eq", "exists"]
    assert isinstance(fourth, Query)
    assert fourth.types == ("relation",)
    assert fourth.tags[1].op == "not_exists"
    assert fourth.line == 7


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("[out:json];\nnode[amenity=cafe]", 2),  # missing ;
        ("[out:json];\n\nnode[amenity=cafe](around:100,60.1,24.9);out;", 3),
        ('[out:json];node["amenity"=];out;', 1),
        ("[out:json];foo;out;", 1),
        ("[out:xml];node[amenity=cafe];out;", 1),
        ("node[amenity=cafe];out;", 1),  # default output is XML
        ('[out:json];node(poly:"60 24 61 25");out;', 1),  # too few points
        ('[out:json];node["a"~"("];out;', 1),  # bad regex
        ("[out:json];(node[amenity=cafe];\nout;);", 2),
        ("[out:json];node[amenity=cafe];out geom;", 1),
        ("[out:json][timeout:abc];node[a];out;", 1),
        ("[out:json];node[amenity=cafe]->.a;out;", 1),
        ("", 1),
    ],
)
def test_errors_name_their_line(text: str, line: int) -> None:
    with pytest.raises(QLError) as caught:
        parse(text)
    assert caught.value.line == line


def test_strings_unescape() -> None:
    program = parse('[out:json];node["name"="Caf\\u00e9 \\"Java\\""]["x"=\'it\\\'s\'];out;')
    query = program.statements[0]
    assert isinstance(query, Query)
    assert query.tags[0].value == 'Café "Java"'
    assert query.tags[1].value == "it's"


def test_selection_semantics(helsinki_data: OsmData) -> None:
    bbox = "(60.165,24.94,60.172,24.95)"
    cafes = parse(f'[out:json];node["amenity"="cafe"]{bbox};out;').statements[0]
    food = parse(f'[out:json];node["amenity"~"^(cafe|restaurant)$"]{bbox};out;').statements[0]
    food_i = parse(f'[out:json];node["amenity"~"^(CAFE|Restaurant)$",i]{bbox};out;').statements[0]
    no_cafe = parse(f'[out:json];node["amenity"]["amenity"!="cafe"]{bbox};out;').statements[0]
    assert isinstance(cafes, Query)
    assert isinstance(food, Query)
    assert isinstance(food_i, Query)
    assert isinstance(no_cafe, Query)
    cafe_ids = set(evaluate_set(helsinki_data, cafes))
    food_ids = set(evaluate_set(helsinki_data, food))
    assert cafe_ids
    assert cafe_ids < food_ids
    assert food_ids == set(evaluate_set(helsinki_data, food_i))
    assert cafe_ids.isdisjoint(evaluate_set(helsinki_data, no_cafe))
    for index in cafe_ids:
        element = helsinki_data.elements[index]
        assert element.tags["amenity"] == "cafe"
        assert 24.94 <= element.lon <= 24.95


def test_ways_match_when_a_segment_touches_the_area(helsinki_data: OsmData) -> None:
    """Overpass returns ways crossing the area even when their centre lies outside."""
    program = parse('[out:json];way["highway"](60.168,24.94,60.169,24.941);out center;')
    printed = run(helsinki_data, program)
    assert printed
    outside = [e for e, _ in printed if not (60.168 <= e.lat <= 60.169 and 24.94 <= e.lon <= 24.941)]
    assert outside, "long streets crossing a small box have their centre elsewhere"
    for element, _ in printed:
        assert element.geometry.intersects(shapely.box(24.94, 60.168, 24.941, 60.169))


def test_out_limit_and_repeated_out(helsinki_data: OsmData) -> None:
    program = parse('[out:json];node["amenity"="cafe"];out ids 3;out tags;')
    printed = run(helsinki_data, program)
    first = [e for e, out in printed if out.verbosity == "ids"]
    second = [e for e, out in printed if out.verbosity == "tags"]
    assert len(first) == 3
    assert len(second) > 3
    assert first == second[:3]


def test_osmnx_features_query_with_item_and_recurse_down(helsinki_data: OsmData) -> None:
    # What OSMnx 2.1 sends for features_from_polygon(tags={"leisure": "park"}): repr-quoted strings,
    # each kind's statement followed by `(._;>;);` (the set itself and what it is made of).
    poly = f"'{POLY}'"
    query = (
        "[out:json][timeout:180];("
        f"(node['leisure'='park'](poly:{poly});(._;>;););"
        f"(way['leisure'='park'](poly:{poly});(._;>;););"
        f"(relation['leisure'='park'](poly:{poly});(._;>;););"
        ");out;"
    )
    printed = [element for element, _ in run(helsinki_data, parse(query))]
    parks = [e for e in printed if e.tags.get("leisure") == "park"]
    assert parks
    members = {("node", ref) for park in parks if park.type == "way" for ref in park.nodes}
    members |= {(m.type, m.ref) for park in parks for m in park.members}
    held = {(e.type, e.id) for e in printed}
    # every member the extract holds (it keeps tagged elements only) comes along, nothing else
    expected_members = {key for key in members if helsinki_data.get(*key) is not None}  # type: ignore[arg-type]
    assert expected_members <= held
    assert held - expected_members == {(e.type, e.id) for e in parks} - expected_members
    with pytest.raises(QLError, match="named sets"):
        parse("[out:json];.a;out;")
