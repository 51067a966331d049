"""MkDocs hook: the configuration page's table of settings, rendered from `Settings` at build time.

`docs/configuration.md` holds the marker below; every field of `areafetch.config.Settings` becomes a
row (variable, default, what is accepted, description), so the page cannot drift from the code.
"""

from __future__ import annotations

import json
import typing
from typing import Any

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic.fields import FieldInfo

from areafetch.config import Settings

MARKER = "<!-- settings-table -->"
ENV_PREFIX = "AREAFETCH_"


# annotated-types' constraint classes, as pydantic stores `Field(ge=..., max_length=...)`.
_BOUNDS: dict[type, tuple[str, str]] = {
    Ge: ("≥", "ge"),
    Gt: (">", "gt"),
    Le: ("≤", "le"),
    Lt: ("<", "lt"),
    MinLen: ("length ≥", "min_length"),
    MaxLen: ("length ≤", "max_length"),
}


def env_var(field_name: str) -> str:
    return f"{ENV_PREFIX}{field_name.upper()}"


def settings_table() -> str:
    """The Markdown table of every setting, in the order `Settings` declares them."""
    rows = ["| variable | default | accepts | meaning |", "| --- | --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        rows.append(
            f"| `{env_var(name)}` | {_cell(default_text(field))} | {_cell(accepts_text(field))} "
            f"| {_cell(field.description or '')} |"
        )
    return "\n".join(rows)


def default_text(field: FieldInfo) -> str:
    default = field.get_default(call_default_factory=True, validated_data={})
    if default is None or default == ():
        return "unset"
    if isinstance(default, dict):
        return f"`{json.dumps(default)}`"
    return f"`{_plain(default)}`"


def accepts_text(field: FieldInfo) -> str:
    choices = _literal_choices(field.annotation)
    if choices:
        return ", ".join(f"`{choice}`" for choice in choices)
    parts = []
    for item in field.metadata:
        for kind, (sign, attribute) in _BOUNDS.items():
            if isinstance(item, kind):
                parts.append(f"{sign} {_plain(getattr(item, attribute))}")
        pattern = getattr(item, "pattern", None)
        if isinstance(pattern, str):
            parts.append(f"`{pattern}`")
    return ", ".join(parts)


def _literal_choices(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) is typing.Literal:
        return typing.get_args(annotation)
    return ()


def _plain(value: object) -> str:
    """A value as it is written in the environment: 30 (not 30.0), false (not False)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def on_page_markdown(markdown: str, **_: Any) -> str:
    """The MkDocs event: put the table where the page has the marker."""
    return markdown.replace(MARKER, settings_table())
