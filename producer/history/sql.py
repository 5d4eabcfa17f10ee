"""Run history and worker liveness in ``dueq_runs`` and ``dueq_workers``.

Only the leader's events consumer writes here, a batch of events per transaction (one
transaction per event cost ~1.8 ms each and starved the publishing loop of CPU under load).
Within a batch each run keeps only its highest-ranked event; the runs' current statuses are
read in one query, new runs inserted in one statement, and advanced ones updated.  The
primary key catches the rare race with the loop's insert of a submitted run, and the batch
is simply redone.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from dueq.producer.history.base import RunHistory, RunRecord, RunStatus, WorkerRecord, status_rank
from dueq.producer.history.records import (
    WORKER_INSERT_DEFAULTS,
    conflict,
    run_values,
    worker_values,
)
from dueq.producer.sqlerrors import store_errors
from dueq.shared.protocol import Event
from dueq.shared.tables import jobs, runs, workers

__all__ = ["SqlRunHistory"]

log = logging.getLogger(__name__)

# Retention's batch delete on PostgreSQL, by row address: with ``run_id IN (subquery)`` the
# planner chose a hash join over a scan of the whole table (0.8 s per batch at 1M rows,
# growing with the table); a TID scan touches only the rows found through the index.
_PG_PURGE = sa.text(
    f"DELETE FROM {runs.name} WHERE ctid = ANY(ARRAY("
    f"SELECT ctid FROM {runs.name} WHERE scheduled_at < :before "
    "ORDER BY scheduled_at LIMIT :limit))"
)
# A write that lost an insert race is redone once; the second attempt sees the row.
_ATTEMPTS = 2


class SqlRunHistory(RunHistory):
    """History in the shared database (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record_many(self, events: Sequence[Event], now: datetime) -> None:
        run_rows, later = _newest_per_run(events, now)
        worker_rows = [w for w in (worker_values(e, now) for e in events) if w is not None]
        if not run_rows and not worker_rows:
            return
        for attempt in range(_ATTEMPTS):
            try:
                with store_errors(self._engine), self._engine.begin() as conn:
                    self._record_runs(conn, run_rows, later)
                    for worker in worker_rows:
                        self._record_worker(conn, worker)
                return
            except sa.exc.IntegrityError:
                if attempt == _ATTEMPTS - 1:
                    raise

    def _record_runs(
        self,
        conn: Connection,
        rows: dict[str, dict[str, Any]],
        later: dict[str, list[dict[str, Any]]],
    ) -> None:
        if not rows:
            return
        query = sa.select(runs.c.run_id, runs.c.status, runs.c.worker_id).where(
            runs.c.run_id.in_(list(rows))
        )
        stored = {row.run_id: (row.status, row.worker_id) for row in conn.execute(query)}
        fresh = _of_known_jobs(conn, [v for run_id, v in rows.items() if run_id not in stored])
        if fresh:
            # One multi-row INSERT needs the same columns in every row.
            columns = {name for values in fresh for name in values}
            conn.execute(runs.insert(), [{c: v.get(c) for c in columns} for v in fresh])
        for values in fresh:
            self._note_conflicts(values["status"], values["worker_id"], later[values["run_id"]])
        for run_id, (status, worker_id) in stored.items():
            values = rows[run_id]
            self._note_conflicts(status, worker_id, [values, *later[run_id]])
            if status_rank(values["status"]) > status_rank(status):
                conn.execute(runs.update().where(runs.c.run_id == run_id).values(values))

    def _note_conflicts(
        self, status: str, worker_id: str | None, candidates: list[dict[str, Any]]
    ) -> None:
        for values in candidates:
            why = conflict(status, worker_id, values)
            if why is not None:
                self.conflicts += 1
                log.warning("conflicting outcome: %s", why)

    def _record_worker(self, conn: Connection, values: dict[str, Any]) -> None:
        updated = conn.execute(
            workers.update().where(workers.c.worker_id == values["worker_id"]).values(values)
        ).rowcount
        if updated == 0:
            conn.execute(workers.insert().values({**WORKER_INSERT_DEFAULTS, **values}))

    def get_run(self, run_id: str) -> RunRecord | None:
        with store_errors(self._engine), self._engine.connect() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.run_id == run_id)).one_or_none()
        return None if row is None else _run_record(row)

    def get_runs(
        self,
        job_id: str | None = None,
        limit: int = 100,
        *,
        statuses: Collection[RunStatus] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[RunRecord]:
        query = sa.select(runs).order_by(runs.c.scheduled_at.desc()).limit(limit)
        if job_id is not None:
            query = query.where(runs.c.job_id == job_id)
        if statuses is not None:
            query = query.where(runs.c.status.in_([RunStatus(s).value for s in statuses]))
        if since is not None:
            query = query.where(runs.c.scheduled_at >= since)
        if until is not None:
            query = query.where(runs.c.scheduled_at <= until)
        with store_errors(self._engine), self._engine.connect() as conn:
            return [_run_record(row) for row in conn.execute(query)]

    def purge(self, before: datetime, limit: int) -> int:
        if self._engine.dialect.name == "postgresql":
            statement: sa.Executable = _PG_PURGE.bindparams(
                before=before.astimezone(UTC).replace(tzinfo=None), limit=limit
            )
        else:
            oldest = (
                sa.select(runs.c.run_id)
                .where(runs.c.scheduled_at < before)
                .order_by(runs.c.scheduled_at)
                .limit(limit)
            )
            statement = runs.delete().where(runs.c.run_id.in_(oldest.scalar_subquery()))
        with store_errors(self._engine), self._engine.begin() as conn:
            return int(conn.execute(statement).rowcount)

    def get_workers(self) -> list[WorkerRecord]:
        query = sa.select(workers).order_by(workers.c.worker_id)
        with store_errors(self._engine), self._engine.connect() as conn:
            return [_worker_record(row) for row in conn.execute(query)]


def _newest_per_run(
    events: Sequence[Event], now: datetime
) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """Each run's values from its highest-ranked event (the first final outcome wins),
    and the later final outcomes of each run, to be checked for conflicts."""
    newest: dict[str, dict[str, Any]] = {}
    later: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        values = run_values(event)
        if values is None:
            continue
        run_id = values["run_id"]
        held = newest.get(run_id)
        later.setdefault(run_id, [])
        if held is None or status_rank(values["status"]) > status_rank(held["status"]):
            newest[run_id] = {**values, "updated_at": now}
        elif status_rank(values["status"]) == status_rank(RunStatus.EXECUTED):
            later[run_id].append(values)
    return newest, later


def _of_known_jobs(conn: Connection, fresh: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The new run rows whose job exists; events about other jobs make no ghost runs.

    A run not yet in the table is normal (its worker reported before the loop committed
    the publish); one of a job that does not exist was never published by us.
    """
    if not fresh:
        return fresh
    wanted = {values["job_id"] for values in fresh}
    query = sa.select(jobs.c.id).where(jobs.c.id.in_(wanted))
    known = {row.id for row in conn.execute(query)}
    for values in fresh:
        if values["job_id"] not in known:
            log.warning(
                "ignoring a %s report for run %s: job %r does not exist",
                values["status"],
                values["run_id"],
                values["job_id"],
            )
    return [values for values in fresh if values["job_id"] in known]


def _run_record(row: Any) -> RunRecord:
    values = dict(row._mapping)
    values.pop("updated_at", None)
    values["status"] = RunStatus(values["status"])
    values["redelivered"] = bool(values["redelivered"])
    return RunRecord(**values)


def _worker_record(row: Any) -> WorkerRecord:
    values = dict(row._mapping)
    values["queues"] = tuple(values["queues"])
    return WorkerRecord(**values)
