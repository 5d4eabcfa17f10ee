"""Starting and stopping the processes a scenario measures.

Each measured system runs in processes of its own (as it would in production), started with
this interpreter from the repository root so ``tests.bench`` modules are importable.  Their
output goes to log files in the bench work directory, read back when something fails.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.bench.services import Services

__all__ = ["REPO_ROOT", "log_tail", "python_process", "run_json", "stop_process"]

REPO_ROOT = Path(__file__).resolve().parents[2]
# Seconds a process gets to exit after SIGTERM before it is killed.
_STOP_TIMEOUT_S = 20.0
_counter = itertools.count()


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def python_process(
    args: list[str], env: dict[str, str], services: Services, *, stdout: int | None = None
) -> subprocess.Popen[bytes]:
    """Start ``python ARGS``; stderr (and stdout unless given) go to a log file."""
    log = services.workdir / f"proc-{os.getpid()}-{next(_counter)}.log"
    handle = log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env=_env(env),
        stdin=subprocess.DEVNULL,
        stdout=handle if stdout is None else stdout,
        stderr=handle,
    )
    proc.log_path = log  # type: ignore[attr-defined]  # read by log_tail
    handle.close()
    return proc


def log_tail(proc: subprocess.Popen[bytes], lines: int = 20) -> str:
    """The last lines a process wrote to its log."""
    path: Path | None = getattr(proc, "log_path", None)
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def stop_process(proc: subprocess.Popen[bytes], timeout: float = _STOP_TIMEOUT_S) -> int | None:
    """SIGTERM, wait, then SIGKILL: the process is gone when this returns."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def run_json(
    args: list[str], services: Services, *, env: dict[str, str] | None = None, timeout: float
) -> dict[str, Any]:
    """Run ``python ARGS`` to the end and return the JSON object on its last stdout line."""
    proc = python_process(args, env or {}, services, stdout=subprocess.PIPE)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_process(proc)
        raise TimeoutError(f"{' '.join(args)} took longer than {timeout:.0f} s") from None
    lines = out.decode(errors="replace").strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(args)} exited {proc.returncode}:\n{log_tail(proc)}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result
