"""Jobs for the worker tests: allowed with ``--import tests.jobs_for_tests.worker_jobs``.

Jobs that must be observed from outside the worker process (overlap, crashes) record
what they do in files under a directory the test passes in, so the evidence survives a
``kill -9`` of the worker.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from dueq import job
from tests.jobs_for_tests.harness import make_run

# Polling period of jobs that wait for a file the test creates: short enough not to slow
# tests, long enough to cost nothing.
_POLL_S = 0.01


@job("worker-tests.noop")
def noop() -> None:
    """Does nothing (throughput and dedupe tests)."""


def add(a: int, b: int) -> int:
    """Returns a + b (reached as module:qualname, not registered)."""
    return a + b


def fail(message: str) -> None:
    """Raises ValueError(message)."""
    raise ValueError(message)


def unserializable() -> object:
    """Returns something JSON cannot hold (reported as a repr)."""
    return {1, 2, 3}


def undecodable_name() -> str:
    """Returns a file name with an undecodable byte, as ``os.fsdecode`` gives it (a lone
    surrogate, which UTF-8 cannot encode)."""
    return os.fsdecode(b"report-\xff.csv")


def fail_on_undecodable() -> None:
    """Raises ValueError naming a file whose name has an undecodable byte."""
    name = os.fsdecode(b"in-\xfe.csv")
    raise ValueError(f"cannot parse {name}")


def change_and_fail(items: list[Any], options: dict[str, Any]) -> None:
    """Changes the list and dict it was given (adding what JSON cannot hold), then fails."""
    items.append({"not", "json"})
    options["added"] = object()
    raise ValueError("failed halfway")


def where() -> dict[str, Any]:
    """Which process and thread ran the job."""
    return {"pid": os.getpid(), "thread": threading.current_thread().name}


async def async_add(a: int, b: int) -> dict[str, Any]:
    """An ``async def`` job: awaits, then reports the sum and that a loop was running."""
    await asyncio.sleep(0)
    return {"sum": a + b, "loop": asyncio.get_running_loop() is not None}


def record_instance(directory: str, seconds: float) -> None:
    """Write start and end times of this instance to a file of its own in ``directory``."""
    start = time.time()
    time.sleep(seconds)
    end = time.time()
    path = Path(directory) / f"{uuid.uuid4().hex}.json"
    path.write_text(json.dumps({"start": start, "end": end, "pid": os.getpid()}))


def wait_for_file(marker: str, started: str = "", timeout: float = 60.0) -> str:
    """Create ``started`` (if given), then return once ``marker`` exists.

    Lets a test hold a job running as long as it needs, without guessing durations.
    """
    if started:
        Path(started).write_text(str(os.getpid()))
    deadline = time.monotonic() + timeout
    while not Path(marker).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{marker} never appeared")
        time.sleep(_POLL_S)
    return "released"


def sleep(seconds: float) -> float:
    """Sleeps (a long job)."""
    time.sleep(seconds)
    return seconds


def run_context() -> dict[str, Any]:
    """What ``dueq.current_run()`` says inside the job (and which process ran it)."""
    return _context_dict()


async def async_run_context() -> dict[str, Any]:
    """``run_context`` as an ``async def`` job."""
    await asyncio.sleep(0)
    return _context_dict()


def _context_dict() -> dict[str, Any]:
    from dueq import current_run

    context = current_run()
    return {
        "job_id": context.job_id,
        "run_id": context.run_id,
        "scheduled_at": context.scheduled_at.isoformat(),
        "attempt": context.attempt,
        "worker_id": context.worker_id,
        "redelivered": context.redelivered,
        "taken_over": context.taken_over,
        "pid": os.getpid(),
    }


async def async_wait_for_file(marker: str, cancelled: str) -> str:
    """Wait for ``marker``; write ``cancelled`` if the wait is cancelled (a timeout)."""
    try:
        while not Path(marker).exists():
            await asyncio.sleep(_POLL_S)
    except asyncio.CancelledError:
        Path(cancelled).write_text("cancelled")
        raise
    return "released"


def fail_until(directory: str, succeed_on: int) -> int:
    """Raise ConnectionError until called the ``succeed_on``-th time (counted in files)."""
    from dueq import current_run

    attempt = current_run().attempt
    (Path(directory) / f"attempt-{attempt}-{time.time():.6f}").write_text(str(os.getpid()))
    if attempt < succeed_on:
        raise ConnectionError(f"attempt {attempt} fails")
    return attempt


# -- what the allowlist must refuse (tests/unit/worker/test_worker_registry.py) ---------


class JobClass:
    """A class in an allowed module: calling it runs __init__, so it is not a job."""

    def run(self) -> str:
        return "ran"


class SneakyPopen(subprocess.Popen[bytes]):
    """A Popen subclass: "calling" it with ["touch", path] would run a command."""


def _private_helper() -> str:
    """Private: never a job, even in an allowed module."""
    return "private"


# A function defined in another module, reachable here by name (a re-export).
reexported = make_run


def exits(code: int) -> None:
    """An argparse-style entry point given bad arguments: raises SystemExit."""
    raise SystemExit(code)


def interrupts() -> None:
    """Raises KeyboardInterrupt from a slot thread."""
    raise KeyboardInterrupt
