"""Run history and worker liveness in ``dueq_runs`` and ``dueq_workers``.

Only the leader's events consumer writes here, one event at a time, so a read-then-write
in one transaction is enough; the primary key catches the rare race with the loop's insert
of a submitted run, and the write is simply redone.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from producer.history.base import RunHistory, RunRecord, RunStatus, WorkerRecord, status_rank
from producer.history.records import WORKER_INSERT_DEFAULTS, run_values, worker_values
from producer.sqlerrors import store_errors
from shared.protocol import Event
from shared.tables import runs, workers

__all__ = ["SqlRunHistory"]

# A write that lost an insert race is redone once; the second attempt sees the row.
_ATTEMPTS = 2


class SqlRunHistory(RunHistory):
    """History in the shared database (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record(self, event: Event, now: datetime) -> None:
        run = run_values(event)
        worker = worker_values(event, now)
        for attempt in range(_ATTEMPTS):
            try:
                with store_errors(self._engine), self._engine.begin() as conn:
                    if run is not None:
                        self._record_run(conn, {**run, "updated_at": now})
                    if worker is not None:
                        self._record_worker(conn, worker)
                return
            except sa.exc.IntegrityError:
                if attempt == _ATTEMPTS - 1:
                    raise

    def _record_run(self, conn: Connection, values: dict[str, Any]) -> None:
        status = conn.execute(
            sa.select(runs.c.status).where(runs.c.run_id == values["run_id"])
        ).scalar_one_or_none()
        if status is None:
            conn.execute(runs.insert().values(values))
        elif status_rank(values["status"]) > status_rank(status):
            conn.execute(runs.update().where(runs.c.run_id == values["run_id"]).values(values))

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
    ) -> list[RunRecord]:
        query = sa.select(runs).order_by(runs.c.scheduled_at.desc()).limit(limit)
        if job_id is not None:
            query = query.where(runs.c.job_id == job_id)
        if statuses is not None:
            query = query.where(runs.c.status.in_([RunStatus(s).value for s in statuses]))
        with store_errors(self._engine), self._engine.connect() as conn:
            return [_run_record(row) for row in conn.execute(query)]

    def get_workers(self) -> list[WorkerRecord]:
        query = sa.select(workers).order_by(workers.c.worker_id)
        with store_errors(self._engine), self._engine.connect() as conn:
            return [_worker_record(row) for row in conn.execute(query)]


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
