"""Run history and worker liveness in ``dueq_runs`` and ``dueq_workers``.

Only the leader's events consumer writes here, a batch of events per transaction (one
transaction per event cost ~1.8 ms each and starved the publishing loop of CPU under load).
The rows of every run in the batch (one per execution) are read in one query, the events
folded into them in memory (``executions.fold``), new rows inserted in one statement and
changed ones updated.  The primary key catches the rare race with the loop's insert of a
submitted run, and the batch is simply redone.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from dueq.producer.history import pgrows
from dueq.producer.history.base import RunHistory, RunRecord, RunStatus, WorkerRecord
from dueq.producer.history.executions import Execution, fold
from dueq.producer.history.records import WORKER_INSERT_DEFAULTS, run_values, worker_values
from dueq.producer.sqlerrors import store_errors
from dueq.shared.protocol import Event
from dueq.shared.sqllists import one_of
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
# SQLite's equivalent: its implicit rowid addresses one row whatever the key.
_ROWID: sa.ColumnElement[int] = sa.literal_column("rowid")
# A write that lost an insert race is redone once; the second attempt sees the row.
_ATTEMPTS = 2
# Newest first, a run's executions and attempts together: what ``dueq runs`` lists.
_NEWEST_FIRST = (runs.c.scheduled_at.desc(), runs.c.attempt.desc(), runs.c.execution.desc())


class SqlRunHistory(RunHistory):
    """History in the shared database (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"

    def record_many(self, events: Sequence[Event], now: datetime) -> None:
        run_rows = [{**v, "updated_at": now} for v in map(run_values, events) if v is not None]
        worker_rows = [w for w in (worker_values(e, now) for e in events) if w is not None]
        if not run_rows and not worker_rows:
            return
        for attempt in range(_ATTEMPTS):
            try:
                with store_errors(self._engine), self._engine.begin() as conn:
                    self._record_runs(conn, run_rows, now)
                    for worker in worker_rows:
                        self._record_worker(conn, worker)
                return
            except sa.exc.IntegrityError:
                if attempt == _ATTEMPTS - 1:
                    raise

    def _record_runs(self, conn: Connection, rows: list[dict[str, Any]], now: datetime) -> None:
        if not rows:
            return
        # Jobs first, runs second: the loop's commit deletes a one-shot job and inserts its
        # run in one transaction, so a job gone by the first query has its run visible to
        # the second.  In the other order a commit landing between the two made the run
        # look unknown and its outcome was dropped (the run stayed "submitted" for good).
        postgres = self._postgres
        known = _known_jobs(conn, {values["job_id"] for values in rows}, postgres)
        stored = _stored_executions(conn, {values["run_id"] for values in rows}, postgres)
        for values in rows:
            executions = stored.get(values["run_id"])
            if executions is None:
                if values["job_id"] not in known:
                    _ignore_unknown_job(values)
                    continue
                executions = stored[values["run_id"]] = []
            why = fold(executions, values)
            if why is not None:
                self.conflicts += 1
                log.warning("conflicting outcome: %s", why)
        _write(conn, stored, now, postgres)

    def _record_worker(self, conn: Connection, values: dict[str, Any]) -> None:
        updated = conn.execute(
            workers.update().where(workers.c.worker_id == values["worker_id"]).values(values)
        ).rowcount
        if updated == 0:
            conn.execute(workers.insert().values({**WORKER_INSERT_DEFAULTS, **values}))

    def get_executions(self, run_id: str) -> list[RunRecord]:
        query = sa.select(runs).where(runs.c.run_id == run_id).order_by(runs.c.execution)
        with store_errors(self._engine), self._engine.connect() as conn:
            return [_run_record(row) for row in conn.execute(query)]

    def get_runs(
        self,
        job_id: str | None = None,
        limit: int = 100,
        *,
        statuses: Collection[RunStatus] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[RunRecord]:
        query = sa.select(runs).order_by(*_NEWEST_FIRST).limit(limit)
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
                sa.select(_ROWID)
                .select_from(runs)
                .where(runs.c.scheduled_at < before)
                .order_by(runs.c.scheduled_at)
                .limit(limit)
            )
            statement = runs.delete().where(_ROWID.in_(oldest.scalar_subquery()))
        with store_errors(self._engine), self._engine.begin() as conn:
            return int(conn.execute(statement).rowcount)

    def get_workers(self) -> list[WorkerRecord]:
        query = sa.select(workers).order_by(workers.c.worker_id)
        with store_errors(self._engine), self._engine.connect() as conn:
            return [_worker_record(row) for row in conn.execute(query)]


def _stored_executions(
    conn: Connection, run_ids: set[str], postgres: bool
) -> dict[str, list[Execution]]:
    """The recorded executions of ``run_ids``, oldest first, in one query."""
    stored: dict[str, list[Execution]] = {}
    for row in conn.execute(_stored_query(postgres), {"run_ids": list(run_ids)}):
        stored.setdefault(row.run_id, []).append(
            Execution(
                execution=row.execution,
                status=row.status,
                worker_id=row.worker_id,
                started_at=row.started_at,
                published_at=row.published_at,
            )
        )
    return stored


@functools.cache
def _stored_query(postgres: bool) -> sa.Select[Any]:
    return (
        sa.select(
            runs.c.run_id,
            runs.c.execution,
            runs.c.status,
            runs.c.worker_id,
            runs.c.started_at,
            runs.c.published_at,
        )
        .where(one_of(runs.c.run_id, "run_ids", postgres=postgres))
        .order_by(runs.c.run_id, runs.c.execution)
    )


def _write(
    conn: Connection, stored: dict[str, list[Execution]], now: datetime, postgres: bool
) -> None:
    """Insert the new executions in one statement; update the changed recorded ones.

    Updates go as one statement per set of changed columns (a batch's events have two or
    three: started, executed, error): one statement per row cost a compile and a round
    trip each, 60% of the scheduler's GIL during a 10k burst (py-spy), starving the loop
    that publishes the burst.  On PostgreSQL each statement takes its rows as one JSON
    array (``pgrows``); elsewhere as an ``executemany``.
    """
    changed = [(run_id, e) for run_id, group in stored.items() for e in group if e.changes]
    fresh = [{**e.changes, "updated_at": now} for _, e in changed if not e.stored]
    updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for run_id, execution in changed:
        if execution.stored:
            values = {**execution.changes, "updated_at": now}
            updates.setdefault(tuple(sorted(values)), []).append(
                {**values, "run_id": run_id, "execution": execution.execution}
            )
    if postgres:
        pgrows.insert_rows(conn, fresh)
        for names, rows in updates.items():
            pgrows.update_rows(conn, names, rows)
        return
    if fresh:
        # One multi-row INSERT needs the same columns in every row.
        columns = {name for values in fresh for name in values}
        conn.execute(runs.insert(), [{c: v.get(c) for c in columns} for v in fresh])
    for names, rows in updates.items():
        conn.execute(_update_statement(names), [_update_params(names, row) for row in rows])


def _update_params(names: tuple[str, ...], row: dict[str, Any]) -> dict[str, Any]:
    """``_update_statement(names)``'s parameters for ``row``: its new values, its key."""
    params = {_SET + name: row[name] for name in names}
    params |= {_KEY_RUN_ID: row["run_id"], _KEY_EXECUTION: row["execution"]}
    return params


# Bound parameter names of ``_update_statement``: a name may not be a column's own.
_SET = "set_"
_KEY_RUN_ID = "key_run_id"
_KEY_EXECUTION = "key_execution"


@functools.lru_cache(maxsize=64)
def _update_statement(columns: tuple[str, ...]) -> sa.Update:
    """UPDATE of one execution's ``columns``, its key and values as bound parameters.

    Cached per column set, so SQLAlchemy compiles each once; the bound parameters take
    their columns' types (UtcDateTime, JSON) in the SET clause and the comparisons.
    """
    key = (runs.c.run_id == sa.bindparam(_KEY_RUN_ID)) & (
        runs.c.execution == sa.bindparam(_KEY_EXECUTION)
    )
    return runs.update().where(key).values({name: sa.bindparam(_SET + name) for name in columns})


def _known_jobs(conn: Connection, job_ids: set[str], postgres: bool) -> set[str]:
    """Which of ``job_ids`` exist: events about other jobs make no ghost runs.

    A run not yet in the table is normal (its worker reported before the loop committed
    the publish); one of a job that does not exist was never published by us.
    """
    if not job_ids:
        return set()
    query = sa.select(jobs.c.id).where(one_of(jobs.c.id, "job_ids", postgres=postgres))
    return set(conn.scalars(query, {"job_ids": list(job_ids)}))


def _ignore_unknown_job(values: dict[str, Any]) -> None:
    log.warning(
        "ignoring a %s report for run %s: job %r does not exist",
        values["status"],
        values["run_id"],
        values["job_id"],
    )


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
