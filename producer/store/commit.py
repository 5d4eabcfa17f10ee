"""The statements of ``SqlJobStore.commit_batch``: fence, advance, remove and record a batch.

On PostgreSQL the whole commit is one call of ``dueq_commit_batch``, a function of dueq's
schema (migration 0008) that checks the lease and writes the batch: one autocommitted query
(after the pool's pre-ping) where a transaction cost eight round trips (pre-ping, ``BEGIN``,
the frozen-transaction limit, the database clock, the fence, two writes, ``COMMIT``), each
followed in the leader by a wait for the GIL beside its events thread: at 1,000 jobs/s the
commit was 40% of the loop's time.  The rows go as JSON arrays of arrays, one statement per
table over them inside the function: ``json.dumps`` is C (1 µs per row where psycopg formats
an array literal in Python at 3.7 µs), and JSON escaping is exact for any id.  Timestamps
travel as naive UTC ISO text.

On SQLite, in-process, neither saves anything; SQLAlchemy's per-row parameter handling
cost four times the driver's own ``executemany``, so the rows go to the driver as tuples,
timestamps converted by SQLAlchemy's own processor.  Every statement keeps the
compare-and-set on ``next_run_time``: a job rescheduled through the API meanwhile is left
alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dueq.producer.leader.base import Lease
from dueq.producer.store.base import JobUpdate, SubmittedRun
from dueq.shared.tables import jobs, runs

__all__ = ["SUBMITTED", "SqliteBatchWriter", "commit_postgres", "naive_utc_text"]

# Status of a run the scheduler published and no worker has reported on yet.
SUBMITTED = "submitted"

_PG_COMMIT = sa.text(
    "SELECT dueq_commit_batch(:name, :holder, CAST(:epoch AS bigint), "
    "CAST(:fence_at AS timestamp), CAST(:advance AS json), CAST(:remove AS json), "
    "CAST(:record AS json), :status, CAST(:now AS timestamp))"
)
_SQLITE_ADVANCE = (
    f"UPDATE {jobs.name} SET next_run_time = ?, next_fire_time = ?, updated_at = ? "
    "WHERE id = ? AND next_run_time = ?"
)
_SQLITE_REMOVE = f"DELETE FROM {jobs.name} WHERE id = ? AND next_run_time = ?"
# A run already in the history keeps its status (a republish, or a worker's event that
# reached the history before this commit), but gains the publish time the worker's event
# does not carry: with DO NOTHING such a run kept published_at NULL for good.  (The
# PostgreSQL function's insert has the same clause.)
_SQLITE_RECORD = (
    f"INSERT INTO {runs.name} "
    "(run_id, job_id, scheduled_at, status, published_at, redelivered, updated_at) "
    "VALUES (?, ?, ?, ?, ?, 0, ?) "
    "ON CONFLICT (run_id, execution) DO UPDATE SET published_at = excluded.published_at "
    f"WHERE {runs.name}.published_at IS NULL"
)

Stamp = Callable[[datetime | None], Any]


def commit_postgres(
    conn: Connection,
    updates: Sequence[JobUpdate],
    submitted: Sequence[SubmittedRun],
    *,
    lease: Lease | None,
    fence_at: datetime | None,
    now: datetime,
    stamp: Stamp,
) -> bool:
    """The batch in one call of ``dueq_commit_batch`` on an autocommit connection.

    Returns False, having written nothing, if ``lease`` is no longer current and unexpired
    at ``fence_at`` (the database's clock when None).  ``stamp`` gives a timestamp's naive
    UTC text, memoized for the batch: its runs share their publish time, a burst's jobs
    their run times.
    """
    advance = [
        (u.job_id, stamp(u.seen_next_run_time), stamp(u.next_run_time), stamp(u.next_fire_time))
        for u in updates
        if not u.remove
    ]
    remove = [(u.job_id, stamp(u.seen_next_run_time)) for u in updates if u.remove]
    record = [
        (run.run_id, run.job_id, stamp(run.scheduled_at), stamp(run.published_at))
        for run in submitted
    ]
    fenced = conn.execute(
        _PG_COMMIT,
        {
            "name": None if lease is None else lease.name,
            "holder": None if lease is None else lease.holder,
            "epoch": None if lease is None else lease.epoch,
            "fence_at": stamp(fence_at),
            "advance": json.dumps(advance),
            "remove": json.dumps(remove),
            "record": json.dumps(record),
            "status": SUBMITTED,
            "now": stamp(now),
        },
    ).scalar_one()
    return bool(fenced)


class SqliteBatchWriter:
    """Writes one batch in the caller's SQLite transaction; ``stamp`` binds a timestamp
    (SQLAlchemy's own processor for the column type, memoized for the batch)."""

    def __init__(self, conn: Connection, *, stamp: Stamp) -> None:
        self._conn = conn
        self._stamp = stamp

    def advance(self, updates: Sequence[JobUpdate], now: datetime) -> None:
        """Move each job to its next run time (if it was not changed meanwhile)."""
        if not updates:
            return
        stamp = self._stamp
        rows = [
            (stamp(u.next_run_time), stamp(u.next_fire_time), stamp(now), u.job_id,
             stamp(u.seen_next_run_time))
            for u in updates
        ]  # fmt: skip
        self._conn.exec_driver_sql(_SQLITE_ADVANCE, rows)

    def remove(self, updates: Sequence[JobUpdate]) -> None:
        """Delete the jobs whose trigger is exhausted (if not changed meanwhile)."""
        if not updates:
            return
        stamp = self._stamp
        rows = [(u.job_id, stamp(u.seen_next_run_time)) for u in updates]
        self._conn.exec_driver_sql(_SQLITE_REMOVE, rows)

    def record(self, submitted: Sequence[SubmittedRun]) -> None:
        """Add the published runs to the run history as ``submitted``."""
        if not submitted:
            return
        stamp = self._stamp
        rows = [
            (run.run_id, run.job_id, stamp(run.scheduled_at), SUBMITTED,
             stamp(run.published_at), stamp(run.published_at))
            for run in submitted
        ]  # fmt: skip
        self._conn.exec_driver_sql(_SQLITE_RECORD, rows)


def naive_utc_text(value: datetime | None) -> str | None:
    """What ``UtcDateTime`` stores (naive UTC), as the ISO text the JSON rows carry."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} given where UTC is required")
    naive = value.astimezone(UTC).replace(tzinfo=None)
    return naive.isoformat(sep=" ", timespec="microseconds")
