"""The statements of ``SqlJobStore.commit_batch``: advance, remove and record a batch.

On PostgreSQL each is one statement over arrays (unnest): a single round trip and one plan
instead of an execution per row, which made the commit of a 10k-run burst take over a
second (and removing the burst's one-shot jobs, row by row, a tenth of the leader's CPU).
On SQLite, in-process, arrays gain nothing, but SQLAlchemy's per-row parameter handling
cost four times the driver's own ``executemany``: the rows go to the driver as tuples,
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

from dueq.producer.store.base import JobUpdate, SubmittedRun
from dueq.shared.tables import jobs, runs

__all__ = ["SUBMITTED", "BatchWriter", "naive_utc_text"]

# Status of a run the scheduler published and no worker has reported on yet.
SUBMITTED = "submitted"

# The rows go to PostgreSQL as one JSON array of arrays, unpacked by the statement:
# psycopg formats a Python list as an array literal in Python code, element by element
# (3.7 µs per row for an id and a timestamp), where ``json.dumps`` is C (1 µs per row), and
# JSON escaping is exact for any id.  Timestamps travel as naive UTC ISO text.
_PG_ADVANCE = sa.text(
    f"UPDATE {jobs.name} AS j SET next_run_time = CAST(u.r->>2 AS timestamp), "
    "next_fire_time = CAST(u.r->>3 AS timestamp), updated_at = CAST(:now AS timestamp) "
    "FROM json_array_elements(CAST(:rows AS json)) AS u(r) "
    "WHERE j.id = u.r->>0 AND j.next_run_time = CAST(u.r->>1 AS timestamp)"
)
_PG_REMOVE = sa.text(
    f"DELETE FROM {jobs.name} AS j USING json_array_elements(CAST(:rows AS json)) AS u(r) "
    "WHERE j.id = u.r->>0 AND j.next_run_time = CAST(u.r->>1 AS timestamp)"
)
_SQLITE_ADVANCE = (
    f"UPDATE {jobs.name} SET next_run_time = ?, next_fire_time = ?, updated_at = ? "
    "WHERE id = ? AND next_run_time = ?"
)
_SQLITE_REMOVE = f"DELETE FROM {jobs.name} WHERE id = ? AND next_run_time = ?"
# A run already in the history keeps its status (a republish, or a worker's event that
# reached the history before this commit), but gains the publish time the worker's event
# does not carry: with DO NOTHING such a run kept published_at NULL for good.
_KEEP_RUN = (
    "ON CONFLICT (run_id, execution) DO UPDATE SET published_at = excluded.published_at "
    f"WHERE {runs.name}.published_at IS NULL"
)
_SQLITE_RECORD = (
    f"INSERT INTO {runs.name} "
    "(run_id, job_id, scheduled_at, status, published_at, redelivered, updated_at) "
    "VALUES (?, ?, ?, ?, ?, 0, ?) " + _KEEP_RUN
)
_PG_RECORD = sa.text(
    f"INSERT INTO {runs.name} "
    "(run_id, job_id, scheduled_at, status, published_at, redelivered, updated_at) "
    "SELECT u.r->>0, u.r->>1, CAST(u.r->>2 AS timestamp), :status, "
    "CAST(u.r->>3 AS timestamp), false, CAST(u.r->>3 AS timestamp) "
    "FROM json_array_elements(CAST(:rows AS json)) AS u(r) " + _KEEP_RUN
)

Stamp = Callable[[datetime | None], Any]


class BatchWriter:
    """Writes one batch in the caller's transaction; ``stamp`` binds a timestamp.

    ``stamp`` is what the column type would bind (naive UTC text on PostgreSQL, SQLAlchemy's
    text on SQLite), memoized for the batch: a batch's runs share their publish time, and a
    burst's jobs their run times.
    """

    def __init__(self, conn: Connection, *, postgres: bool, stamp: Stamp) -> None:
        self._conn = conn
        self._postgres = postgres
        self._stamp = stamp

    def advance(self, updates: Sequence[JobUpdate], now: datetime) -> None:
        """Move each job to its next run time (if it was not changed meanwhile)."""
        if not updates:
            return
        stamp = self._stamp
        if self._postgres:
            self._conn.execute(
                _PG_ADVANCE,
                {
                    "rows": json.dumps(
                        [
                            (
                                u.job_id,
                                stamp(u.seen_next_run_time),
                                stamp(u.next_run_time),
                                stamp(u.next_fire_time),
                            )
                            for u in updates
                        ]
                    ),
                    "now": stamp(now),
                },
            )
            return
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
        if self._postgres:
            rows = [(u.job_id, stamp(u.seen_next_run_time)) for u in updates]
            self._conn.execute(_PG_REMOVE, {"rows": json.dumps(rows)})
            return
        rows = [(u.job_id, stamp(u.seen_next_run_time)) for u in updates]
        self._conn.exec_driver_sql(_SQLITE_REMOVE, rows)

    def record(self, submitted: Sequence[SubmittedRun]) -> None:
        """Add the published runs to the run history as ``submitted``."""
        if not submitted:
            return
        stamp = self._stamp
        if self._postgres:
            self._conn.execute(
                _PG_RECORD,
                {
                    "rows": json.dumps(
                        [
                            (
                                run.run_id,
                                run.job_id,
                                stamp(run.scheduled_at),
                                stamp(run.published_at),
                            )
                            for run in submitted
                        ]
                    ),
                    "status": SUBMITTED,
                },
            )
            return
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
