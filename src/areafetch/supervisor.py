"""`areafetch worker --processes N`: N worker processes under one supervisor.

The supervisor restarts a worker that exits (with a growing delay while they keep dying at once),
forwards SIGTERM/SIGINT so every worker drains within its grace period, and gives up with exit 1
when workers die at once `QUICK_DEATHS_LIMIT` times in a row (a broken setting, not bad luck).
Each worker watches its parent, so a supervisor killed with SIGKILL leaves no orphan.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType

from areafetch.cpu import ORPHAN_CHECK_S
from areafetch.log import get_logger

__all__ = ["QUICK_DEATHS_LIMIT", "Supervisor", "stop_when_orphaned"]

log = get_logger("areafetch.supervisor")

QUICK_DEATHS_LIMIT = 5
QUICK_DEATH_S = 10.0  # a worker that exits sooner than this after starting "died at once"
_POLL_S = 0.1
_MAX_BACKOFF_S = 30.0
_KILL_MARGIN_S = 5.0  # after the grace period, before SIGKILL


@dataclass(slots=True)
class _Slot:
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    restart_at: float = 0.0


class Supervisor:
    """Keeps `processes` copies of `command` running until a signal stops them."""

    def __init__(self, command: Sequence[str], processes: int, *, grace_s: float) -> None:
        self.command = list(command)
        self.slots = [_Slot() for _ in range(processes)]
        self.grace_s = grace_s
        self.quick_deaths = 0
        self._stop_signal: int | None = None

    def run(self) -> int:
        """Supervise until stopped (0) or until workers keep dying at once (1, reason logged)."""
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            log.info("supervisor.started", processes=len(self.slots), pid=os.getpid())
            while self._stop_signal is None:
                reason = self._tend()
                if reason is not None:
                    log.error("supervisor.giving_up", reason=reason)
                    print(f"areafetch worker: {reason}", file=sys.stderr)
                    self._stop_children(signal.SIGTERM)
                    return 1
                time.sleep(_POLL_S)
            self._stop_children(self._stop_signal)
            log.info("supervisor.stopped")
            return 0
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self._stop_signal is not None:  # a second signal: the workers force their stop
            self._signal_children(signum)
        self._stop_signal = signum

    def _tend(self) -> str | None:
        now = time.monotonic()
        for index, slot in enumerate(self.slots):
            if slot.proc is None:
                if now >= slot.restart_at:
                    # own process group: a Ctrl-C in the terminal reaches only us, and we forward it once
                    slot.proc = subprocess.Popen(
                        [*self.command, "--watch-parent", str(os.getpid())], process_group=0
                    )
                    slot.started = now
                continue
            code = slot.proc.poll()
            if code is None:
                continue
            lived_s = now - slot.started
            log.warning("supervisor.worker_exited", slot=index, pid=slot.proc.pid, code=code, lived_s=lived_s)
            slot.proc = None
            if lived_s >= QUICK_DEATH_S:
                self.quick_deaths = 0
                continue
            self.quick_deaths += 1
            if self.quick_deaths >= QUICK_DEATHS_LIMIT:
                return (
                    f"a worker exited within {QUICK_DEATH_S:g} s of starting {self.quick_deaths} times "
                    f"in a row (last exit code {code}); see its log above"
                )
            slot.restart_at = now + min(0.5 * 2 ** (self.quick_deaths - 1), _MAX_BACKOFF_S)
        return None

    def _signal_children(self, signum: int) -> None:
        for slot in self.slots:
            if slot.proc is not None and slot.proc.poll() is None:
                slot.proc.send_signal(signum)

    def _stop_children(self, signum: int) -> None:
        """Forward the stop, wait out the grace period, then kill what is left."""
        self._signal_children(signum)
        deadline = time.monotonic() + self.grace_s + _KILL_MARGIN_S
        for slot in self.slots:
            if slot.proc is None:
                continue
            try:
                slot.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("supervisor.killing_worker", pid=slot.proc.pid, grace_s=self.grace_s)
                slot.proc.kill()
                slot.proc.wait()


def stop_when_orphaned(parent_pid: int) -> None:
    """In a supervised worker: stop gracefully (as on SIGTERM) once the supervisor is gone."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(ORPHAN_CHECK_S)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()
