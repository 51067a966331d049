"""The documentation site and the README: the configuration page is rendered from Settings, every
page is reachable from the nav, and the README stays the short page a newcomer reads first."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from areafetch.config import Settings

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _load_settings_hook() -> ModuleType:
    path = DOCS / "hooks" / "settings_table.py"
    spec = importlib.util.spec_from_file_location("settings_table_hook", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def hook() -> ModuleType:
    return _load_settings_hook()


def _rendered_rows(hook: ModuleType) -> dict[str, list[str]]:
    """`AREAFETCH_X` → its cells (default, accepts, meaning) in the rendered table."""
    rows = {}
    for line in hook.settings_table().splitlines()[2:]:
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_every_setting_has_a_description() -> None:
    undocumented = [name for name, field in Settings.model_fields.items() if not field.description]
    assert undocumented == [], "give each a Field(description=...): the configuration page shows it"


def test_the_configuration_page_has_a_row_per_setting_with_its_default(hook: ModuleType) -> None:
    rows = _rendered_rows(hook)

    assert list(rows) == [f"AREAFETCH_{name.upper()}" for name in Settings.model_fields]
    for name, field in Settings.model_fields.items():
        default, _accepts, meaning = rows[f"AREAFETCH_{name.upper()}"]
        assert meaning == field.description.replace("|", "\\|")  # type: ignore[union-attr]
        if field.default is None:
            assert default == "unset"
        elif isinstance(field.default, int | float) and not isinstance(field.default, bool):
            assert float(default.strip("`")) == float(field.default), name


def test_the_configuration_page_shows_limits_and_choices(hook: ModuleType) -> None:
    rows = _rendered_rows(hook)

    assert rows["AREAFETCH_DATABASE_POOL_SIZE"][:2] == ["`5`", "≥ 1, ≤ 100"]
    assert rows["AREAFETCH_LOG_FORMAT"][1] == "`auto`, `json`, `console`"
    assert rows["AREAFETCH_PROTECT_READS"][0] == "`false`"


def test_the_hook_puts_the_table_where_the_page_has_its_marker(hook: ModuleType) -> None:
    page = (DOCS / "configuration.md").read_text()

    assert hook.MARKER in page
    rendered = hook.on_page_markdown(page, page=None, config=None, files=None)
    assert hook.MARKER not in rendered
    assert "| `AREAFETCH_REDIS_URL` | `redis://127.0.0.1:6379/0` |" in rendered


def _nav_pages(nav: list[object]) -> set[str]:
    pages: set[str] = set()
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        if isinstance(value, list):
            pages |= _nav_pages(value)
        else:
            pages.add(str(value))
    return pages


def test_every_page_is_in_the_nav_and_every_nav_entry_exists() -> None:
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)  # no !!python tags
    in_nav = _nav_pages(config["nav"])
    on_disk = {str(path.relative_to(DOCS)) for path in DOCS.rglob("*.md")}

    assert on_disk - in_nav == set(), "add the page to `nav:` in mkdocs.yml"
    assert in_nav - on_disk == set()


def test_readme_is_the_short_first_page_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()

    assert len(readme.splitlines()) <= 150
    assert "make dev" in readme
    assert "make test" in readme
    linked = set(re.findall(r"\]\((docs/[^)#]+\.md)", readme))
    assert linked, "the README links into the documentation site"
    assert [link for link in linked if not (ROOT / link).exists()] == []
