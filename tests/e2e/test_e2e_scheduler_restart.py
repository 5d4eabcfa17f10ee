"""After ``kill -9``, a scheduler restarted on the same host leads at once and says why."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

DUEQ = Path(sys.executable).parent / "dueq"
# Deadline of each wait: only a stuck process takes this long, on any host.
_STUCK_S = 60.0


class _Scheduler:
    """A ``dueq scheduler`` process whose stderr lines are collected as they come."""

    def __init__(self, database_url: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DUEQ_")}
        env.update(DUEQ_DATABASE_URL=database_url, DUEQ_BROKER_URL="memory://")
        self.process = subprocess.Popen(
            [str(DUEQ), "scheduler"], env=env, stderr=subprocess.PIPE, text=True
        )
        self.lines: list[str] = []
        self._seen = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._seen:
                self.lines.append(line)
                self._seen.notify_all()

    def wait_for(self, text: str, timeout: float) -> str:
        with self._seen:
            found = self._seen.wait_for(
                lambda: any(text in line for line in self.lines), timeout=timeout
            )
        assert found, f"no {text!r} within {timeout}s:\n{''.join(self.lines)}"
        return next(line for line in self.lines if text in line)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self._reader.join(10)
        assert self.process.stderr is not None
        self.process.stderr.close()


def test_a_restarted_scheduler_takes_over_from_its_killed_predecessor_at_once(
    tmp_path: Path,
) -> None:
    database_url = f"sqlite:///{tmp_path / 'dueq.sqlite3'}"
    first = _Scheduler(database_url)
    second: _Scheduler | None = None
    try:
        first.wait_for("is the leader (epoch 1)", _STUCK_S)
        first.process.send_signal(signal.SIGKILL)  # no release of the lease
        first.process.wait(10)
        started = time.monotonic()
        second = _Scheduler(database_url)
        leads = second.wait_for("is the leader (epoch 2)", _STUCK_S)
        print(f"the restarted scheduler led {time.monotonic() - started:.1f} s after its start")
        # At once, not after the 15 s lease: it took over, and never stood by waiting.
        took_over = second.wait_for("taking over now", 1)
        assert f"(pid {first.process.pid} on this host) is gone" in took_over
        assert second.lines.index(took_over) < second.lines.index(leads)
        assert not any("standing by" in line for line in second.lines)
    finally:
        first.stop()
        if second is not None:
            second.stop()
