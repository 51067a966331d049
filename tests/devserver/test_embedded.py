"""`areafetch.devserver.embedded`: which Redis/PostgreSQL `areafetch dev` uses, and the embedded servers themselves.

This machine (and CI) may run a real Redis on 6379 and PostgreSQL on 5432, so every test points
the defaults at ports of its own: a bound but not listening socket (connections are refused) or a
plain listening socket (reachable, and nothing is ever started behind it).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import TypedDict

import asyncpg
import pytest
import redis

from areafetch.devserver.embedded import ServiceUrls, is_reachable, services_for_dev
from areafetch.errors import ConfigurationError, ServiceUnavailable


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A data directory outside pytest's own temporary root.

    As root, PostgreSQL runs as an unprivileged account that must be able to pass through every
    directory above its data. pytest resets its root (/tmp/pytest-of-<user>) to mode 0700 whenever
    a session starts, so a concurrent pytest run on the machine would lock the server out mid-test.
    """
    with tempfile.TemporaryDirectory(prefix="areafetch-test-embedded-") as directory:
        yield Path(directory)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port that refuses connections, and stays unusable by anyone else during the test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def open_port() -> Iterator[int]:
    """A port that accepts connections (the kernel completes the handshake; nobody answers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


class _Defaults(TypedDict):
    default_redis_url: str
    default_database_url: str


def _defaults(port: int) -> _Defaults:
    return {
        "default_redis_url": f"redis://127.0.0.1:{port}/0",
        "default_database_url": f"postgresql://postgres@127.0.0.1:{port}/areafetch",
    }


async def _pg(url: str, sql: str, *, script: bool) -> object:
    connection = await asyncpg.connect(url)
    try:
        return await (connection.execute(sql) if script else connection.fetchval(sql))
    finally:
        await connection.close()


def _pg_value(url: str, sql: str) -> object:
    return asyncio.run(_pg(url, sql, script=False))


def _pg_script(url: str, sql: str) -> None:
    asyncio.run(_pg(url, sql, script=True))


def _postmaster_pid(data_dir: Path) -> int:
    (pid_file,) = (data_dir / "postgres").rglob("postmaster.pid")
    return int(pid_file.read_text().split()[0])


def _assert_gone(pid: int) -> None:
    # Both servers are our children and reaped on stop, so their pids no longer exist.
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_embedded_servers_serve_persist_and_stop(
    data_dir: Path, closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="areafetch.embedded")
    data_dir = data_dir / "dev-data"  # created by services_for_dev

    with services_for_dev(
        redis_url=None, database_url=None, data_dir=data_dir, **_defaults(closed_port)
    ) as urls:
        assert urls.redis_url.startswith("redis://127.0.0.1:")
        assert urls.database_url.startswith("postgresql://postgres@127.0.0.1:")
        assert urls.database_url.endswith("/areafetch")
        with redis.Redis.from_url(urls.redis_url, decode_responses=True) as client:
            assert client.ping()
            assert client.set("areafetch:test", "kept")
            assert client.get("areafetch:test") == "kept"
            assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
            redis_pid = int(client.info("server")["process_id"])
        assert _pg_value(urls.database_url, "select 1") == 1
        assert _pg_value(urls.database_url, "select current_database()") == "areafetch"
        _pg_script(urls.database_url, "create table kept (x int); insert into kept values (42)")
        postgres_pid = _postmaster_pid(data_dir)

    _assert_gone(redis_pid)
    _assert_gone(postgres_pid)
    assert not is_reachable(urls.redis_url)
    assert not is_reachable(urls.database_url)
    assert "redis: nothing answers at redis://127.0.0.1:" in caplog.text
    assert "redis: embedded server stopped" in caplog.text
    assert "postgres: embedded server stopped" in caplog.text

    # Run 2: the same data directory; the Redis key (AOF) and the table are still there.
    with services_for_dev(
        redis_url=None, database_url=None, data_dir=data_dir, **_defaults(closed_port)
    ) as again:
        with redis.Redis.from_url(again.redis_url, decode_responses=True) as client:
            assert client.get("areafetch:test") == "kept"
        assert _pg_value(again.database_url, "select x from kept") == 42
        # Two runs on one data directory would corrupt it.
        with (
            pytest.raises(ConfigurationError, match="in use by another"),
            services_for_dev(redis_url=None, database_url=None, data_dir=data_dir, **_defaults(closed_port)),
        ):
            pass
        postgres_pid = _postmaster_pid(data_dir)
    _assert_gone(postgres_pid)


def test_servers_are_stopped_when_the_body_raises(data_dir: Path, closed_port: int) -> None:
    seen: list[ServiceUrls] = []

    def run_and_fail() -> None:
        with services_for_dev(
            redis_url=None, database_url=None, data_dir=data_dir, **_defaults(closed_port)
        ) as urls:
            seen.append(urls)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run_and_fail()
    (urls,) = seen
    assert not is_reachable(urls.redis_url)
    assert not is_reachable(urls.database_url)


def test_leftovers_of_a_killed_run_are_stopped_and_their_data_kept(data_dir: Path, closed_port: int) -> None:
    """`kill -9` of `areafetch dev` leaves the servers running (own session); the next run copes."""
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        import redis
        from areafetch.devserver.embedded import services_for_dev
        with services_for_dev(redis_url=None, database_url=None, data_dir=Path({str(data_dir)!r}),
                              **{_defaults(closed_port)!r}) as urls:
            with redis.Redis.from_url(urls.redis_url, decode_responses=True) as client:
                client.set("from-killed-run", "yes")
            print(urls.redis_url, urls.database_url, flush=True)
            time.sleep(600)
        """
    )
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        old_redis_url, old_database_url = child.stdout.readline().split()
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert is_reachable(old_redis_url)
    assert is_reachable(old_database_url)

    with services_for_dev(
        redis_url=None, database_url=None, data_dir=data_dir, **_defaults(closed_port)
    ) as urls:
        assert not is_reachable(old_redis_url)
        assert not is_reachable(old_database_url)
        with redis.Redis.from_url(urls.redis_url, decode_responses=True) as client:
            assert client.get("from-killed-run") == "yes"
        assert _pg_value(urls.database_url, "select 1") == 1
    assert not is_reachable(urls.redis_url)
    assert not is_reachable(urls.database_url)


@pytest.mark.parametrize(
    ("configured", "variable"),
    [
        ("redis_url", "AREAFETCH_REDIS_URL"),
        ("database_url", "AREAFETCH_DATABASE_URL"),
    ],
)
def test_configured_but_unreachable_url_is_an_error_naming_the_variable(
    tmp_path: Path, closed_port: int, open_port: int, configured: str, variable: str
) -> None:
    # The other service is configured and reachable, so only the broken one can fail.
    redis_url = f"redis://:s3cret@127.0.0.1:{open_port}/0"
    database_url = f"postgresql://app:s3cret@127.0.0.1:{open_port}/areafetch"
    if configured == "redis_url":
        redis_url = f"redis://:s3cret@127.0.0.1:{closed_port}/0"
    else:
        database_url = f"postgresql://app:s3cret@127.0.0.1:{closed_port}/areafetch"
    data_dir = tmp_path / "never-created"

    with (
        pytest.raises(ServiceUnavailable, match=variable) as raised,
        services_for_dev(
            redis_url=redis_url, database_url=database_url, data_dir=data_dir, **_defaults(closed_port)
        ),
    ):
        pass
    assert "s3cret" not in str(raised.value)
    assert f"127.0.0.1:{closed_port}" in str(raised.value)
    assert not data_dir.exists()  # checked before anything was started


def test_reachable_defaults_and_configured_urls_are_used_as_is(
    tmp_path: Path, open_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="areafetch.embedded")
    data_dir = tmp_path / "never-created"
    defaults = _defaults(open_port)

    with services_for_dev(redis_url=None, database_url=None, data_dir=data_dir, **defaults) as urls:
        assert urls == ServiceUrls(defaults["default_redis_url"], defaults["default_database_url"])

    configured = ServiceUrls(
        f"redis://:s3cret@127.0.0.1:{open_port}/3", f"postgresql://app:s3cret@127.0.0.1:{open_port}/other"
    )
    with services_for_dev(
        redis_url=configured.redis_url, database_url=configured.database_url, data_dir=data_dir, **defaults
    ) as urls:
        assert urls == configured

    assert not data_dir.exists()
    assert "redis: using local default" in caplog.text
    assert "postgres: using configured postgresql://app:***@" in caplog.text
    assert "s3cret" not in caplog.text


def test_is_reachable(tmp_path: Path, closed_port: int, open_port: int) -> None:
    assert is_reachable(f"redis://127.0.0.1:{open_port}/0")
    assert is_reachable(f"rediss://user:pw@127.0.0.1:{open_port}")
    assert is_reachable(f"postgresql://postgres:pw@127.0.0.1:{open_port}/db")
    assert is_reachable(f"postgresql://a@127.0.0.1:{closed_port},127.0.0.1:{open_port}/db")
    assert not is_reachable(f"redis://127.0.0.1:{closed_port}/0")
    assert not is_reachable(f"postgresql://postgres@127.0.0.1:{closed_port}/db")

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
        unix.bind(str(tmp_path / ".s.PGSQL.5433"))
        unix.listen(1)
        assert is_reachable(f"postgresql://postgres@/db?host={tmp_path}&port=5433")
        assert is_reachable(f"unix://{tmp_path}/.s.PGSQL.5433?db=0")
        assert not is_reachable(f"postgresql://postgres@/db?host={tmp_path}")  # port 5432: no socket

    with pytest.raises(ValueError, match="not a redis"):
        is_reachable("http://user:pw@127.0.0.1/")
    with pytest.raises(ValueError, match="cannot tell where") as raised:
        is_reachable("redis://:s3cret@127.0.0.1:port/0")
    assert "s3cret" not in str(raised.value)
