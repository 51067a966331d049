"""`areafetch dev`: one command for a working local setup.

Finds Redis and PostgreSQL (configured, local defaults, or embedded ones started here),
applies migrations, then supervises the web app and the workers' supervisor as child processes. Ctrl-C
(or SIGTERM) stops both children gracefully, then the embedded servers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType

from areafetch.config import Settings
from areafetch.db import migrate
from areafetch.devserver.embedded import services_for_dev
from areafetch.log import get_logger

__all__ = ["run_dev"]

log = get_logger("areafetch.dev")

_CHILD_STOP_MARGIN_S = 10.0


def run_dev(settings: Settings, *, data_dir: Path, worker_processes: int = 2) -> int:
    """Run web + workers (`areafetch worker --processes N`) until interrupted; returns the exit code
    (non-zero if a child died)."""
    with services_for_dev(
        redis_url=os.environ.get("AREAFETCH_REDIS_URL"),
        database_url=os.environ.get("AREAFETCH_DATABASE_URL"),
        data_dir=data_dir,
    ) as urls:
        migrate(urls.database_url)
        env = {
            **os.environ,
            "AREAFETCH_REDIS_URL": urls.redis_url,
            "AREAFETCH_DATABASE_URL": urls.database_url,
            "AREAFETCH_WEB_HOST": settings.web_host,
            "AREAFETCH_WEB_PORT": str(settings.web_port),
        }
        log.info("dev.serving", url=f"http://{settings.web_host}:{settings.web_port}/")
        commands = {"web": ["web"], "worker": ["worker", "--processes", str(worker_processes)]}
        return _supervise(commands, env, grace_s=settings.shutdown_grace_s)


def _supervise(commands: dict[str, list[str]], env: dict[str, str], *, grace_s: float) -> int:
    stop = threading.Event()
    previous = {signum: signal.signal(signum, _setter(stop)) for signum in (signal.SIGINT, signal.SIGTERM)}
    children: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, args in commands.items():
            # A session of their own: Ctrl-C reaches only us, and we stop them once, in order.
            child = subprocess.Popen(
                [sys.executable, "-m", "areafetch", *args], env=env, start_new_session=True
            )
            children[name] = child
            threading.Thread(target=_watch, args=(child, stop), daemon=True).start()
        stop.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        exit_code = _stop_children(children, grace_s=grace_s)
    return exit_code


def _setter(stop: threading.Event) -> signal.Handlers:
    def handle(signum: int, frame: FrameType | None) -> None:
        log.info("dev.stopping", signal=signum)
        stop.set()

    return handle  # type: ignore[return-value]


def _watch(child: subprocess.Popen[bytes], stop: threading.Event) -> None:
    child.wait()
    stop.set()


def _stop_children(children: dict[str, subprocess.Popen[bytes]], *, grace_s: float) -> int:
    """SIGTERM to each child still running, wait for all, SIGKILL what outlives the deadline."""
    died = [name for name, child in children.items() if child.poll() not in (None, 0)]
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for name, child in children.items():
        try:
            child.wait(timeout=grace_s + _CHILD_STOP_MARGIN_S)
        except subprocess.TimeoutExpired:
            log.warning("dev.killing", child=name)
            child.kill()
            child.wait()
    for name in died:
        log.error("dev.child_died", child=name, exit_code=children[name].returncode)
    return 1 if died else 0
