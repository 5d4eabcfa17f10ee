"""Job store on SQLAlchemy Core: SQLite (a file, the default) or PostgreSQL.

The loop's due query reads only the ``next_run_time`` index; ``commit_batch`` writes a whole
batch with ``executemany`` in one transaction that also checks the leader lease (fencing).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from producer.clock import Clock, utc_now
from producer.job import Job
from producer.leader.base import Lease, LeaseLost
from producer.leader.sql import fence_check
from producer.sqlerrors import store_errors
from producer.store.base import JobStore, JobUpdate, SubmittedRun
from producer.store.rows import SCHEDULE_COLUMNS, job_to_row, row_to_job
from shared.errors import ConflictingIdError, JobLookupError
from shared.tables import UtcDateTime, jobs, runs

__all__ = ["SqlJobStore", "dialect_insert"]

# Status of a run the scheduler published and no worker has reported on yet.
SUBMITTED = "submitted"
_UTC = UtcDateTime()


def dialect_insert(engine: Engine) -> Callable[[sa.Table], Any]:
    """The dialect's ``insert`` (it has ``on_conflict_do_*``); dueq supports these two."""
    return postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert


class SqlJobStore(JobStore):
    """Jobs in ``dueq_jobs``; submitted runs go to ``dueq_runs`` in the same transaction."""

    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self._engine = engine
        self._clock = clock
        self._insert = dialect_insert(engine)

    def add_job(self, job: Job, *, replace_existing: bool = False) -> None:
        now = self._clock()
        row = {**job_to_row(job, now), "created_at": now}
        statement = self._insert(jobs).values(row)
        if replace_existing:
            changed = {k: v for k, v in row.items() if k not in ("id", "created_at")}
            statement = statement.on_conflict_do_update(index_elements=["id"], set_=changed)
        try:
            with store_errors(self._engine), self._engine.begin() as conn:
                conn.execute(statement)
        except sa.exc.IntegrityError as exc:
            raise ConflictingIdError(job.id) from exc

    def update_job(self, job: Job, *, schedule: bool = True) -> None:
        row = job_to_row(job, self._clock())
        del row["id"]
        if not schedule:
            for column in SCHEDULE_COLUMNS:
                del row[column]
        with store_errors(self._engine), self._engine.begin() as conn:
            if conn.execute(jobs.update().where(jobs.c.id == job.id).values(row)).rowcount != 1:
                raise JobLookupError(job.id)

    def remove_job(self, job_id: str) -> None:
        with store_errors(self._engine), self._engine.begin() as conn:
            if conn.execute(jobs.delete().where(jobs.c.id == job_id)).rowcount != 1:
                raise JobLookupError(job_id)

    def remove_all_jobs(self) -> None:
        with store_errors(self._engine), self._engine.begin() as conn:
            conn.execute(jobs.delete())

    def get_job(self, job_id: str) -> Job | None:
        with store_errors(self._engine), self._engine.connect() as conn:
            row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).one_or_none()
        return None if row is None else row_to_job(row)

    def get_jobs(self) -> list[Job]:
        query = sa.select(jobs).order_by(
            jobs.c.next_run_time.is_(None), jobs.c.next_run_time, jobs.c.id
        )
        with store_errors(self._engine), self._engine.connect() as conn:
            return [row_to_job(row) for row in conn.execute(query)]

    def get_due_jobs(self, now: datetime, limit: int) -> list[Job]:
        query = (
            sa.select(jobs)
            .where(jobs.c.next_run_time <= now)
            .order_by(jobs.c.next_run_time)
            .limit(limit)
        )
        with store_errors(self._engine), self._engine.connect() as conn:
            return [row_to_job(row) for row in conn.execute(query)]

    def get_next_run_time(self) -> datetime | None:
        query = sa.select(sa.func.min(jobs.c.next_run_time))
        with store_errors(self._engine), self._engine.connect() as conn:
            value = conn.execute(query).scalar_one_or_none()
        # min() loses the column type on some dialects: convert like UtcDateTime does.
        return None if value is None else _UTC.process_result_value(value, self._engine.dialect)

    def commit_batch(
        self,
        updates: Sequence[JobUpdate],
        runs: Sequence[SubmittedRun],
        *,
        lease: Lease | None,
        now: datetime,
    ) -> None:
        with store_errors(self._engine), self._engine.begin() as conn:
            if lease is not None and not fence_check(conn, lease, now):
                raise LeaseLost(f"lease epoch {lease.epoch} is no longer current")
            self._advance(conn, [u for u in updates if not u.remove], now)
            self._remove(conn, [u for u in updates if u.remove])
            self._record(conn, runs)

    def _advance(self, conn: Connection, updates: list[JobUpdate], now: datetime) -> None:
        if not updates:
            return
        statement = (
            jobs.update()
            .where(jobs.c.id == sa.bindparam("u_id"))
            .where(jobs.c.next_run_time == sa.bindparam("u_seen"))
            .values(
                next_run_time=sa.bindparam("u_next_run"),
                next_fire_time=sa.bindparam("u_next_fire"),
                updated_at=now,
            )
        )
        conn.execute(
            statement,
            [
                {
                    "u_id": u.job_id,
                    "u_seen": u.seen_next_run_time,
                    "u_next_run": u.next_run_time,
                    "u_next_fire": u.next_fire_time,
                }
                for u in updates
            ],
        )

    def _remove(self, conn: Connection, updates: list[JobUpdate]) -> None:
        if not updates:
            return
        statement = (
            jobs.delete()
            .where(jobs.c.id == sa.bindparam("u_id"))
            .where(jobs.c.next_run_time == sa.bindparam("u_seen"))
        )
        conn.execute(
            statement, [{"u_id": u.job_id, "u_seen": u.seen_next_run_time} for u in updates]
        )

    def _record(self, conn: Connection, submitted: Sequence[SubmittedRun]) -> None:
        if not submitted:
            return
        statement = self._insert(runs).on_conflict_do_nothing(index_elements=["run_id"])
        conn.execute(
            statement,
            [
                {
                    "run_id": run.run_id,
                    "job_id": run.job_id,
                    "scheduled_at": run.scheduled_at,
                    "status": SUBMITTED,
                    "published_at": run.published_at,
                    "redelivered": False,
                    "updated_at": run.published_at,
                }
                for run in submitted
            ],
        )
