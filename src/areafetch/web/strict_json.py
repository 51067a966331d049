"""Standard JSON only (RFC 8259): what Python's parser accepts beyond it is refused before a route
sees the body, so a field never holds a value that no other JSON reader would agree on.

Refused, naming where in the body: `NaN`, `Infinity` and `-Infinity` (not JSON); numbers that
overflow a double (`1e999` parses to infinity) or an integer beyond 64 bits (RFC 8259 §6: not
interoperable); an object with the same key twice (RFC 8259 §4: readers disagree which one wins).
A body that is not UTF-8 (RFC 8259 §8.1) cannot be read at all.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["JsonRefusal", "check_standard_json"]

_MAX_ABS_INT: Final = 2**63


class JsonRefusal(ValueError):
    """Why a body is not standard JSON: ``loc`` where (None: the body cannot be decoded at all)."""

    def __init__(self, message: str, *, loc: list[str | int] | None) -> None:
        super().__init__(message)
        self.loc = loc


@dataclass(frozen=True)
class _NotStandard:
    """Stands in the parsed tree where the text was not standard JSON, so its path can be named."""

    problem: str


def _constant(name: str) -> _NotStandard:
    return _NotStandard(f"{name} is not a JSON number")


def _float(text: str) -> float | _NotStandard:
    value = float(text)
    return value if math.isfinite(value) else _NotStandard(f"number {_short(text)} is too large for a double")


def _int(text: str) -> int | _NotStandard:
    if len(text.lstrip("-")) > 19 or abs(int(text)) >= _MAX_ABS_INT:
        return _NotStandard(f"number {_short(text)} is an integer beyond 64 bits")
    return int(text)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        seen[key] = _NotStandard(f"key {_short(key)!r} appears twice in one object") if key in seen else value
    return seen


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:40] + "…"


def _first_problem(value: Any, loc: list[str | int]) -> tuple[str, list[str | int]] | None:
    if isinstance(value, _NotStandard):
        return value.problem, loc
    children = (
        value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    )
    for key, child in children:
        found = _first_problem(child, [*loc, key])
        if found is not None:
            return found
    return None


def check_standard_json(body: bytes) -> None:
    """Refuse ``body`` unless it is standard JSON (malformed JSON is left to FastAPI's own 422).

    The caller bounds the nesting depth first: the check recurses once per level.

    Raises:
        JsonRefusal: what is wrong and where.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonRefusal(f"the body is not UTF-8 (byte {exc.start})", loc=None) from exc
    try:
        tree = json.loads(
            text, parse_constant=_constant, parse_float=_float, parse_int=_int, object_pairs_hook=_object
        )
    except ValueError:  # malformed JSON: FastAPI answers it with the position of the error
        return
    found = _first_problem(tree, ["body"])
    if found is not None:
        raise JsonRefusal(found[0], loc=found[1])
