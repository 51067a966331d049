"""The event loop a process runs on: uvloop by default where installed, asyncio on request."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
from pydantic import ValidationError

from areafetch import event_loop
from areafetch.config import Settings


async def _loop_seen() -> str:
    return event_loop.running_loop_name()


@pytest.mark.parametrize(
    ("choice", "expected"), [("auto", "uvloop"), ("uvloop", "uvloop"), ("asyncio", "asyncio")]
)
def test_run_uses_the_chosen_loop(choice: str, expected: str) -> None:
    assert event_loop.run(_loop_seen(), choice) == expected  # type: ignore[arg-type]


@pytest.fixture
def uvloop_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvloop" else real_find_spec(name, *a)
    )


@pytest.mark.usefixtures("uvloop_missing")
def test_auto_falls_back_to_asyncio_where_uvloop_is_missing() -> None:
    assert event_loop.loop_name("auto") == "asyncio"
    assert event_loop.run(_loop_seen(), "auto") == "asyncio"


@pytest.mark.usefixtures("uvloop_missing")
def test_asking_for_uvloop_where_it_is_missing_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AREAFETCH_EVENT_LOOP", "uvloop")

    with pytest.raises(ValidationError, match="event_loop") as caught:
        Settings()

    assert "uvloop is not installed" in str(caught.value)


def test_an_unknown_loop_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AREAFETCH_EVENT_LOOP", "trio")

    with pytest.raises(ValidationError, match="event_loop"):
        Settings()


@pytest.mark.parametrize("choice", ["asyncio", "uvloop"])
def test_the_web_command_hands_the_choice_to_uvicorn(
    monkeypatch: pytest.MonkeyPatch, restored_logging: None, choice: str
) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from areafetch.cli import app

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))

    result = CliRunner().invoke(app, ["web", "--port", "8999"], env={"AREAFETCH_EVENT_LOOP": choice})

    assert result.exit_code == 0, result.output
    assert calls[0]["loop"] == choice
