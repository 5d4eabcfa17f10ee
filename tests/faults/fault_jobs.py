"""The job the fault-injection suite schedules: it records each of its own executions.

Workers run it with ``--import tests.faults.fault_jobs``.  Every execution inserts a row
(run id, job id, scheduled time, worker pid, start) into ``fault_executions`` when it starts
and sets ``finished_at`` when it ends, on a direct connection to the test's PostgreSQL
schema (``FAULTS_LEDGER_URL``, never through a fault proxy), so the evidence is
independent of the events the worker reports and survives a ``kill -9`` of the worker.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from types import FrameType
from typing import Any

import psycopg

__all__ = [
    "LEDGER_TABLE",
    "LEDGER_URL_ENV",
    "create_ledger_table",
    "psycopg_url",
    "record",
    "record_async",
    "record_current",
]

# Environment variable naming the ledger database (a SQLAlchemy or libpq URL).
LEDGER_URL_ENV = "FAULTS_LEDGER_URL"
LEDGER_TABLE = "fault_executions"
# How many caller frames to search for the worker's RunRequest (invoke -> execute -> ...).
_FRAME_SEARCH_DEPTH = 8

# How often a gated run looks for its gate file: short next to any fault's duration.
_GATE_POLL_S = 0.02

# One connection per slot thread: a fresh one per execution would cost more than the job.
_local = threading.local()


def psycopg_url(url: str) -> str:
    """A libpq URL from a SQLAlchemy one (``postgresql+psycopg://`` -> ``postgresql://``)."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"


def create_ledger_table(conn: psycopg.Connection[Any]) -> None:
    """Create the executions table (in the schema the connection's search_path names)."""
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {LEDGER_TABLE} ("
        " id bigserial PRIMARY KEY, run_id text NOT NULL, job_id text NOT NULL,"
        " scheduled_at timestamptz NOT NULL, pid integer NOT NULL,"
        " started_at double precision NOT NULL, finished_at double precision)"
    )


def record(seconds: float = 0.0, gate: str | None = None) -> int:
    """Record this execution, sleep ``seconds`` (a job that takes time), record its end.

    With ``gate`` (a file path), the run then holds until the test creates that file: a
    run that is surely still executing when the test strikes, however loaded the host.
    Returns the worker's pid, so the job_executed event also says where it ran.
    """
    run = _current_run()
    conn = _connection()
    row = conn.execute(
        f"INSERT INTO {LEDGER_TABLE} (run_id, job_id, scheduled_at, pid, started_at)"
        " VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (run.run_id, run.job_id, run.scheduled_at, os.getpid(), time.time()),
    ).fetchone()
    assert row is not None
    if seconds > 0:
        time.sleep(seconds)  # the job's work: long enough to be killed in the middle of
    while gate is not None and not os.path.exists(gate):
        time.sleep(_GATE_POLL_S)
    conn.execute(f"UPDATE {LEDGER_TABLE} SET finished_at = %s WHERE id = %s", (time.time(), row[0]))
    return os.getpid()


def record_current(seconds: float = 0.0) -> int:
    """``record`` for any executor: the run comes from ``dueq.current_run()`` (a process
    executor's child has no worker frame to search).  Returns the worker's pid."""
    row_id = _record_start()
    time.sleep(seconds)
    _record_end(row_id)
    return os.getpid()


async def record_async(seconds: float = 0.0) -> int:
    """``record_current`` as a coroutine (asyncio executor): cancellable while it sleeps,
    and a cancelled execution keeps ``finished_at`` NULL."""
    row_id = _record_start()
    await asyncio.sleep(seconds)
    _record_end(row_id)
    return os.getpid()


def _record_start() -> int:
    from dueq import current_run

    context = current_run()
    row = (
        _connection()
        .execute(
            f"INSERT INTO {LEDGER_TABLE} (run_id, job_id, scheduled_at, pid, started_at)"
            " VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (context.run_id, context.job_id, context.scheduled_at, os.getpid(), time.time()),
        )
        .fetchone()
    )
    assert row is not None
    return int(row[0])


def _record_end(row_id: int) -> None:
    _connection().execute(
        f"UPDATE {LEDGER_TABLE} SET finished_at = %s WHERE id = %s", (time.time(), row_id)
    )


def _connection() -> psycopg.Connection[Any]:
    conn: psycopg.Connection[Any] | None = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        conn = psycopg.connect(psycopg_url(os.environ[LEDGER_URL_ENV]), autocommit=True)
        _local.conn = conn
    return conn


def _current_run() -> Any:
    """The RunRequest being executed, found in the worker's executor frame.

    The worker passes a job only its args and kwargs; the ledger needs the run id, and
    the thread executor's ``execute(run, func)`` frame holds it.  Test-only.
    """
    frame: FrameType | None = sys._getframe(1)
    for _ in range(_FRAME_SEARCH_DEPTH):
        if frame is None:
            break
        candidate = frame.f_locals.get("run")
        if hasattr(candidate, "run_id") and hasattr(candidate, "scheduled_at"):
            return candidate
        frame = frame.f_back
    raise RuntimeError("fault_jobs.record must run on a worker's thread executor")


def flaky(fail_until: int, slow_attempt: int = 0, seconds: float = 0.0) -> int:
    """Record this execution; raise ConnectionError while the attempt is below ``fail_until``.

    The attempt number comes from ``dueq.current_run()``; attempt ``slow_attempt`` takes
    ``seconds`` first (long enough to kill its worker in the middle).  Returns the attempt.
    """
    from dueq import current_run

    context = current_run()
    conn = _connection()
    row = conn.execute(
        f"INSERT INTO {LEDGER_TABLE} (run_id, job_id, scheduled_at, pid, started_at)"
        " VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (context.run_id, context.job_id, context.scheduled_at, os.getpid(), time.time()),
    ).fetchone()
    assert row is not None
    if context.attempt == slow_attempt:
        time.sleep(seconds)
    conn.execute(f"UPDATE {LEDGER_TABLE} SET finished_at = %s WHERE id = %s", (time.time(), row[0]))
    if context.attempt < fail_until:
        raise ConnectionError(f"attempt {context.attempt} fails on purpose")
    return context.attempt


class SneakyPopen(subprocess.Popen[bytes]):
    """A Popen subclass in an allowed module: a message naming it must never "call" it."""
