"""Real ``dueq scheduler`` / ``dueq worker`` processes that a test can kill, pause and resume.

Each process writes stdout and stderr to a log file of its own, so its output survives a
``kill -9`` and can be searched (``wait_for_log``) or shown when a test fails.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.support.waiting import wait_until

__all__ = ["DUEQ", "Proc", "ProcessGroup", "environment"]

# The installed command, exactly as a user runs it.
DUEQ = str(Path(sys.executable).with_name("dueq"))
# How long a SIGTERMed process gets to stop before it is killed.
_TERM_TIMEOUT_S = 15.0
# The checkout this suite belongs to (tests/faults/ is two levels below it).
_REPO_ROOT = Path(__file__).resolve().parents[2]
# Log lines shown per process when a test fails.
_TAIL_LINES = 40


class Proc:
    """One subprocess of a test."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], log: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = log
        self.started_at = time.time()
        self.killed_at: float | None = None
        with log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv, env=dict(env), stdout=out, stderr=subprocess.STDOUT
            )
        self._paused = False

    @property
    def pid(self) -> int:
        """The process id."""
        return self.popen.pid

    @property
    def alive(self) -> bool:
        """True while the process has not exited."""
        return self.popen.poll() is None

    def output(self) -> str:
        """Everything the process wrote so far."""
        return self.log.read_text(errors="replace")

    def kill(self) -> float:
        """SIGKILL (kill -9) and reap; returns the time (``time.time()``) of the kill."""
        self.killed_at = time.time()
        if self.alive:
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(_TERM_TIMEOUT_S)
        self._paused = False
        return self.killed_at

    def pause(self) -> float:
        """SIGSTOP: the process freezes with its sockets open; returns the time."""
        self.popen.send_signal(signal.SIGSTOP)
        self._paused = True
        return time.time()

    def resume(self) -> float:
        """SIGCONT after ``pause``; returns the time."""
        self.popen.send_signal(signal.SIGCONT)
        self._paused = False
        return time.time()

    def terminate(self, timeout: float = _TERM_TIMEOUT_S) -> int | None:
        """SIGTERM and wait ``timeout`` s for a graceful exit, then kill -9."""
        if self._paused:
            self.resume()
        if self.alive:
            self.popen.send_signal(signal.SIGTERM)
            try:
                return self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
        return self.popen.wait(_TERM_TIMEOUT_S)

    def wait_for_log(self, pattern: str, *, timeout: float, count: int = 1) -> str:
        """Wait until ``pattern`` (a regex) has matched ``count`` times in the output."""

        def matched() -> str | None:
            found = re.findall(pattern, self.output())
            if len(found) >= count:
                return str(found[count - 1])
            if not self.alive:
                raise AssertionError(
                    f"{self.name} exited while waiting for {pattern!r}:\n{self.tail()}"
                )
            return None

        return wait_until(matched, f"{self.name} to log {pattern!r}", timeout=timeout)

    def tail(self, lines: int = _TAIL_LINES) -> str:
        """The last lines of the output."""
        return "\n".join(self.output().splitlines()[-lines:])


class ProcessGroup:
    """Starts the processes of one test; ``close()`` ends every one still running."""

    def __init__(self, directory: Path, env: Mapping[str, str]) -> None:
        self._directory = directory
        self._env = dict(env)
        self.procs: list[Proc] = []

    @property
    def env(self) -> dict[str, str]:
        """The environment every process of the group starts with."""
        return dict(self._env)

    def spawn(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> Proc:
        """Start ``argv`` with the group's environment (plus ``env``)."""
        log = self._directory / f"{len(self.procs):02d}-{name}.log"
        proc = Proc(name, argv, {**self._env, **(env or {})}, log)
        self.procs.append(proc)
        return proc

    def scheduler(self, name: str, *options: str, env: Mapping[str, str] | None = None) -> Proc:
        """``dueq scheduler`` with the group's DUEQ_* settings and ``options``."""
        return self.spawn(name, [DUEQ, "--log-level", "INFO", "scheduler", *options], env)

    def worker(self, name: str, *options: str, env: Mapping[str, str] | None = None) -> Proc:
        """``dueq worker`` allowed to run the fault jobs, with ``options``."""
        argv = [DUEQ, "--log-level", "INFO", "worker", "--import", "tests.faults.fault_jobs"]
        return self.spawn(name, [*argv, "--worker-id", name, *options], env)

    def script(self, name: str, path: Path, env: Mapping[str, str] | None = None) -> Proc:
        """A Python script of the suite (e.g. the scheduler with a crash hook)."""
        return self.spawn(name, [sys.executable, str(path)], env)

    def tails(self) -> str:
        """The end of every process's output (shown when a test fails)."""
        return "\n".join(f"--- {p.name} (pid {p.pid}) ---\n{p.tail()}" for p in self.procs)

    def close(self) -> None:
        """Kill every process still running (paused ones too); the test is over."""
        for proc in self.procs:
            if proc.alive:
                proc.popen.send_signal(signal.SIGCONT)
                proc.popen.send_signal(signal.SIGKILL)
        for proc in self.procs:
            proc.popen.wait(_TERM_TIMEOUT_S)


def environment(**values: str) -> dict[str, str]:
    """The test process's environment without DUEQ_* variables, plus ``values``.

    The repository root goes on PYTHONPATH, so workers can import the fault job module
    (``tests.faults.fault_jobs``) however dueq was installed.
    """
    base = {k: v for k, v in os.environ.items() if not k.startswith("DUEQ_")}
    paths = [str(_REPO_ROOT), *filter(None, base.get("PYTHONPATH", "").split(os.pathsep))]
    return {**base, "PYTHONPATH": os.pathsep.join(paths), **values}
