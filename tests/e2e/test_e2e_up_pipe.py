"""``dueq up`` stops on --duration and on Ctrl-C even when whoever read its output is gone."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.readme_blocks import REPO

pytestmark = pytest.mark.e2e

DUEQ = Path(sys.executable).parent / "dueq"
# Start-up (imports, schema) plus the duration plus the stop, with room for a loaded machine.
_STOP_WITHIN_S = 40.0


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("DUEQ_")}


def _up(tmp_path: Path, *extra: str) -> list[str]:
    database = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    return [str(DUEQ), "up", "--app", "examples.demo", "--database-url", database, *extra]


def test_duration_stops_up_when_its_output_goes_through_head(tmp_path: Path) -> None:
    # A real shell pipe: head exits after three lines and every later write hits EPIPE.
    pipeline = f"{shlex.join(_up(tmp_path, '--duration', '3'))} | head -3; echo status=$?"
    started = time.monotonic()
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", pipeline],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=_STOP_WITHIN_S,
    )
    assert time.monotonic() - started < _STOP_WITHIN_S
    lines = done.stdout.splitlines()
    assert len(lines) == 4, done.stdout + done.stderr
    assert lines[-1] == "status=0", done.stderr  # dueq itself exited cleanly
    assert "Traceback" not in done.stderr


def test_ctrl_c_stops_up_after_its_reader_went_away(tmp_path: Path) -> None:
    process = subprocess.Popen(
        _up(tmp_path), cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        for _ in range(2):  # it is running and printing
            assert process.stdout.readline()
        process.stdout.close()  # like `| tee` killed by the same Ctrl-C
        process.send_signal(signal.SIGINT)
        assert process.wait(_STOP_WITHIN_S) == 0
        assert process.stderr is not None
        assert b"Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        if process.stderr is not None:
            process.stderr.close()
