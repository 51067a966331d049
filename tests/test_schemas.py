"""The checked-in `schemas/` folder is what the Pydantic models produce, and the CLI writes it."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from areafetch.cli import app
from areafetch.constants import ALL_QUEUES
from areafetch.jobs import JOB_SPECS
from areafetch.schemas import INDEX_FILE, render_schemas

SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas"


def test_checked_in_schemas_match_the_models() -> None:
    expected = render_schemas()
    on_disk = {path.name: path.read_text(encoding="utf-8") for path in SCHEMAS_DIR.glob("*.json")}
    differing = sorted(
        name for name in expected.keys() | on_disk.keys() if expected.get(name) != on_disk.get(name)
    )
    assert not differing, (
        f"schemas/ is out of date with the job models ({', '.join(differing)}): "
        "run `areafetch schemas` and commit the result"
    )


def test_index_names_every_queue_job_and_schema_file() -> None:
    files = render_schemas()
    index = json.loads(files[INDEX_FILE])
    assert set(index["queues"]) == set(ALL_QUEUES)
    for spec in JOB_SPECS:
        entry = index["queues"][spec.queue]["jobs"][spec.name]
        payload = json.loads(files[entry["payload"]])
        assert payload["title"] == spec.payload_model.__name__
        assert payload["additionalProperties"] is False
        assert json.loads(files[entry["result"]])["title"] == spec.result_model.__name__
    assert index["prefix"] == "bull"
    assert index["default_job_options"]["backoff"]["type"] == "exponential"


def test_cli_writes_the_files_and_removes_stale_ones(tmp_path: Path) -> None:
    (tmp_path / "gone.payload.json").write_text("{}")

    result = CliRunner().invoke(app, ["schemas", "--out", str(tmp_path)])

    assert result.exit_code == 0, result.output
    assert sorted(path.name for path in tmp_path.glob("*.json")) == sorted(render_schemas())
