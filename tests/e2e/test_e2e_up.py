"""The README's run command, as a real process: jobs fire and report within 30 seconds."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.readme_blocks import REPO, run_command

pytestmark = pytest.mark.e2e

DUEQ = Path(sys.executable).parent / "dueq"
# The promise: a person sees jobs executing within this many seconds.
FIRST_RESULTS_S = 30.0


class Output:
    """The process's stdout, read line by line on a thread, awaited with deadlines."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, pattern: str, deadline: float) -> str:
        """The first line (from now on) containing ``pattern``; fails at ``deadline``."""
        for line in self.lines:
            if pattern in line:
                return line
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"no line with {pattern!r}; output so far:\n{''.join(self.lines)}")
            try:
                received = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if received is None:
                pytest.fail(f"the process ended before {pattern!r}:\n{''.join(self.lines)}")
            self.lines.append(received)
            if pattern in received:
                return received

    def join(self) -> None:
        """Wait for the reader to see the end of the output."""
        self._thread.join(30)

    def rest(self) -> str:
        self.join()
        while (line := self._queue.get_nowait()) is not None:
            self.lines.append(line)
        return "".join(self.lines)


StartUp = Callable[..., tuple[subprocess.Popen[str], Output]]


@pytest.fixture
def start_up(tmp_path: Path) -> Iterator[StartUp]:
    processes: list[tuple[subprocess.Popen[str], Output]] = []

    def start(*extra: str) -> tuple[subprocess.Popen[str], Output]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DUEQ_")}
        command = [str(DUEQ), *run_command()[1:], *extra]
        command += ["--database-url", f"sqlite:///{tmp_path / 'demo.sqlite3'}"]
        # From the repository root, as a person following the README would.
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        started = (process, Output(process))
        processes.append(started)
        return started

    yield start
    for process, output in processes:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        output.join()
        assert process.stdout is not None
        process.stdout.close()


def test_the_run_command_shows_every_kind_of_event_and_stops_after_its_duration(
    start_up: StartUp,
) -> None:
    process, output = start_up("--duration", "12")
    deadline = time.monotonic() + FIRST_RESULTS_S
    assert "returned 5" in output.wait_for("executed       demo.interval", deadline)
    output.wait_for("executed       demo.cron", deadline)
    assert "ValueError: order 42 has no customer" in output.wait_for("error", deadline)
    output.wait_for("Traceback (most recent call last):", deadline)
    output.wait_for("max_instances  demo.slow", deadline)
    assert process.wait(30) == 0
    text = output.rest()
    assert "stopped." in text
    assert "Traceback" not in text.split("stopped.")[-1]
    assert "scheduled demo.cron: tick (trigger: cron[second='*/5']" in text  # not just "cron"


def test_sigterm_stops_the_embedded_mode_cleanly(start_up: StartUp) -> None:
    process, output = start_up()
    output.wait_for("executed", time.monotonic() + FIRST_RESULTS_S)
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    text = output.rest()
    assert "SIGTERM received" in text
    assert "stopped." in text


def test_the_run_command_serves_the_dashboard_over_the_demo(start_up: StartUp) -> None:
    process, output = start_up("--dashboard-port", "0")
    deadline = time.monotonic() + FIRST_RESULTS_S
    url = output.wait_for("dashboard: http://", deadline).split("dashboard: ", 1)[1].strip()
    output.wait_for("executed       demo.interval", deadline)

    with urllib.request.urlopen(f"{url}/jobs", timeout=10) as response:
        jobs_page = response.read().decode()
    with urllib.request.urlopen(f"{url}/runs?job=demo.interval", timeout=10) as response:
        runs_page = response.read().decode()
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    assert "demo.cron" in jobs_page
    assert "executed" in runs_page
    assert "demo.fail" not in runs_page  # the job filter applies
