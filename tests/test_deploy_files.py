"""docker-compose.yml and the Dockerfile say what the code does."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_compose_has_the_four_services_with_healthchecks_and_ordering() -> None:
    services = _compose()["services"]

    assert {"app", "worker", "db", "redis"} <= set(services)
    for name in ("redis", "db"):
        assert services[name]["healthcheck"]["test"]
    for name in ("app", "worker"):
        deps = services[name]["depends_on"]
        assert deps["redis"]["condition"] == "service_healthy"
        assert deps["db"]["condition"] == "service_healthy"
        assert deps["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["migrate"]
    assert services["worker"]["command"] == ["worker"]


def test_compose_redis_persists_with_aof_and_never_evicts() -> None:
    command = " ".join(_compose()["services"]["redis"]["command"])

    assert "--appendonly yes" in command
    assert "--maxmemory-policy noeviction" in command


def test_compose_file_is_accepted_by_docker_compose() -> None:
    """`docker compose config` where the plugin exists, else the standalone docker-compose."""
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        command = ["docker", "compose", "config", "-q"]
    else:
        binary = shutil.which("docker-compose")
        assert binary, (
            "neither `docker compose` nor docker-compose is installed (.ci/run installs docker-compose)"
        )
        command = [binary, "config", "-q"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_dockerfile_runs_as_non_root_user() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()

    assert any(line.startswith("FROM python:3.11-slim") for line in lines)
    assert any(line.strip() == "USER areafetch" for line in lines)
