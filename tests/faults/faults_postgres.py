"""A private PostgreSQL cluster a test may crash: ``initdb`` + ``postgres`` on a free port.

The data directory lives under a temporary directory; the server listens on 127.0.0.1 and
a port of its own, with trust authentication, so the PostgreSQL the rest of the suite uses
is never touched.  PostgreSQL refuses to run as root, so as root the server runs as the
``postgres`` user (``runuser``).  ``kill()`` is a ``kill -9`` of the postmaster; the
backends it leaves notice their parent is gone and exit, and ``start()`` then makes the
server recover from its WAL, as after a crash.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from tests.faults.faults_rig import closed_port
from tests.support.waiting import wait_until

__all__ = ["PostgresServer"]

_SERVICE_USER = "postgres"
_START_TIMEOUT_S = 60.0
# Backends of a killed postmaster exit at their next check for its death (well under 1 s).
_ORPHANS_TIMEOUT_S = 30.0


def _binary(name: str) -> str:
    """A PostgreSQL program: on PATH, or in Debian's versioned directory."""
    found = shutil.which(name)
    if found:
        return found
    for directory in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (directory / name).exists():
            return str(directory / name)
    raise AssertionError(f"PostgreSQL's {name} is not installed; `make test` installs it")


class PostgresServer:
    """One private PostgreSQL server: start, kill -9 of the postmaster, restart, stop."""

    def __init__(self) -> None:
        # Not under pytest's tmp_path: its 0700 parents would lock the postgres user out.
        directory = Path(tempfile.mkdtemp(prefix="dueq-faults-pg-"))
        self.directory = directory
        self.data = directory / "data"
        self.port = closed_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self._popen: subprocess.Popen[bytes] | None = None
        self._as_service_user = os.geteuid() == 0
        directory.mkdir(parents=True, exist_ok=True)
        if self._as_service_user:
            shutil.chown(directory, _SERVICE_USER)
        self._run([_binary("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                   "--no-sync", "-E", "UTF8"])  # fmt: skip

    def _argv(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", _SERVICE_USER, "--", *argv] if self._as_service_user else argv

    def _run(self, argv: list[str]) -> None:
        done = subprocess.run(self._argv(argv), capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise AssertionError(f"{argv[0]} failed: {done.stdout}{done.stderr}")

    @property
    def postmaster_pid(self) -> int:
        """The postmaster's pid, from its pid file."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def start(self) -> float:
        """Start the server (recovering after a crash); returns when it accepts queries."""
        argv = [_binary("postgres"), "-D", str(self.data), "-p", str(self.port),
                "-k", str(self.directory), "-c", "listen_addresses=127.0.0.1"]  # fmt: skip
        with (self.directory / "server.log").open("ab") as out:
            self._popen = subprocess.Popen(
                self._argv(argv), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_until(self._answers, "the private PostgreSQL to accept queries",
                   timeout=_START_TIMEOUT_S)  # fmt: skip
        return time.time()

    def _answers(self) -> bool:
        if self._popen is not None and self._popen.poll() is not None:
            raise AssertionError(f"the private PostgreSQL exited:\n{self.log_tail()}")
        try:
            with psycopg.connect(self.libpq_url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.OperationalError:
            return False

    @property
    def libpq_url(self) -> str:
        """The URL as libpq (psycopg) reads it."""
        return self.url.replace("postgresql+psycopg://", "postgresql://")

    def kill(self) -> float:
        """kill -9 of the postmaster; returns once every server process is gone."""
        killed_at = time.time()
        os.kill(self.postmaster_pid, signal.SIGKILL)
        self.wait_dead()
        return killed_at

    def wait_dead(self, timeout: float = _ORPHANS_TIMEOUT_S) -> None:
        """Wait until the postmaster (killed by someone) and all its backends are gone."""
        assert self._popen is not None
        popen = self._popen
        wait_until(lambda: popen.poll() is not None, "the postmaster to die", timeout=timeout)
        wait_until(lambda: not _group_alive(popen.pid), "the killed server's backends to exit",
                   timeout=_ORPHANS_TIMEOUT_S)  # fmt: skip

    def stop(self) -> None:
        """Kill the whole server and delete its files (the session is over)."""
        if self._popen is not None and self._popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._popen.pid, signal.SIGKILL)
            self._popen.wait(_ORPHANS_TIMEOUT_S)
            wait_until(lambda: not _group_alive(self._popen.pid) if self._popen else True,
                       "the server's processes to exit", timeout=_ORPHANS_TIMEOUT_S)  # fmt: skip
        shutil.rmtree(self.directory, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        """The end of the server's log."""
        path = self.directory / "server.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True
