"""``dueq worker`` finds the user's code as Celery's worker does.

The ``dueq`` script's own folder, not the current one, heads ``sys.path``: without help a
worker started in the app's folder could not import the app.  The current folder (or
``--app-dir``) is searched first, and a module that is not found is named together with
where it was looked for.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

DUEQ = Path(sys.executable).parent / "dueq"
APP = """
import sys
print("imported myapp_jobs from", __file__, file=sys.stderr, flush=True)

def work():
    return 1
"""


def _start(cwd: Path, log: Path, *options: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUEQ_")}
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(DUEQ), "worker", "--broker-url", "memory://", *options],
            cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def test_the_worker_imports_the_app_from_the_folder_it_was_started_in(tmp_path: Path) -> None:
    (tmp_path / "myapp_jobs.py").write_text(APP)
    log = tmp_path / "worker.log"
    proc = _start(tmp_path, log, "--import", "myapp_jobs")
    try:
        wait_until(
            lambda: "imported myapp_jobs from" in log.read_text() or proc.poll() is not None,
            "the worker to import the app", timeout=30,
        )  # fmt: skip
        assert f"imported myapp_jobs from {tmp_path / 'myapp_jobs.py'}" in log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
