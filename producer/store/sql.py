"""Job store on SQLAlchemy Core: SQLite (a file, the default) or PostgreSQL.

The loop's due query reads only the ``next_run_time`` index; ``commit_batch`` writes a whole
batch atomically, checking the leader lease first (fencing): on PostgreSQL in one call of
dueq's commit function, on SQLite in one transaction of the driver's ``executemany``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Sequence, Set
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dueq.producer.clock import Clock, utc_now
from dueq.producer.job import Job
from dueq.producer.leader.base import Lease, LeaseLost
from dueq.producer.leader.dbclock import LeaseClock, database_time, fence_time
from dueq.producer.leader.sql import fence_check
from dueq.producer.sqlerrors import store_errors
from dueq.producer.store.base import JobStore, JobUpdate, SubmittedRun, merge_batch
from dueq.producer.store.bulk import insert_jobs
from dueq.producer.store.commit import SqliteBatchWriter, commit_postgres, naive_utc_text
from dueq.producer.store.due import fetch_due_postgres
from dueq.producer.store.rows import SCHEDULE_COLUMNS, job_to_row, row_to_job
from dueq.shared.db import single_statement_reads
from dueq.shared.errors import ConflictingIdError, JobLookupError
from dueq.shared.tables import UtcDateTime, jobs

__all__ = ["SqlJobStore", "dialect_insert"]

_UTC = UtcDateTime()

# The due query reads the trigger as its JSON text: the driver would parse it, only for
# ``row_to_job`` to serialize it again as the key of its parsed-trigger cache (a tenth of
# fetching a 10k batch); every due job of one schedule shares a trigger.
_DUE_COLUMNS = [
    sa.cast(column, sa.Text).label(column.name) if column.name == "trigger" else column
    for column in jobs.c
]


def dialect_insert(engine: Engine) -> Callable[[sa.Table], Any]:
    """The dialect's ``insert`` (it has ``on_conflict_do_*``); dueq supports these two.

    Each dialect module is imported when first needed: PostgreSQL's pulls in its drivers'
    modules, which a command on a SQLite file should not pay for.
    """
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    from sqlalchemy.dialects import sqlite

    return sqlite.insert


class SqlJobStore(JobStore):
    """Jobs in ``dueq_jobs``; submitted runs go to ``dueq_runs`` in the same transaction."""

    def __init__(
        self, engine: Engine, clock: Clock = utc_now, *, lease_clock: LeaseClock = database_time
    ) -> None:
        self._engine = engine
        self._reads = single_statement_reads(engine)
        self._clock = clock
        self._lease_clock = lease_clock  # the fencing check compares on the lease's clock
        self._insert = dialect_insert(engine)
        self._postgres = engine.dialect.name == "postgresql"
        bind = _UTC.dialect_impl(engine.dialect).bind_processor(engine.dialect)
        self._bind_timestamp: Callable[[datetime | None], Any] = bind or (lambda value: value)

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

    def add_jobs(
        self,
        jobs: Sequence[Job],
        *,
        replace_existing: bool = False,
        explicit_times: Set[str] = frozenset(),
    ) -> None:
        batch = merge_batch(jobs, replace_existing=replace_existing)
        if not batch:
            return
        try:
            with store_errors(self._engine), self._engine.begin() as conn:
                insert_jobs(
                    conn,
                    batch,
                    postgres=self._postgres,
                    replace_existing=replace_existing,
                    explicit_times=explicit_times,
                    now=self._clock(),
                )
        except sa.exc.IntegrityError as exc:  # added by another process since the lookup
            raise ConflictingIdError(_conflicting_id(exc, batch)) from exc

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
        with store_errors(self._engine), self._reads.connect() as conn:
            row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).one_or_none()
        return None if row is None else row_to_job(row)

    def get_jobs(self) -> list[Job]:
        query = sa.select(jobs).order_by(
            jobs.c.next_run_time.is_(None), jobs.c.next_run_time, jobs.c.id
        )
        with store_errors(self._engine), self._reads.connect() as conn:
            return [row_to_job(row) for row in conn.execute(query)]

    def get_due_jobs(
        self, now: datetime, limit: int, *, exclude: Collection[str] = ()
    ) -> list[Job]:
        if self._postgres:
            with store_errors(self._engine), self._reads.connect() as conn:
                return fetch_due_postgres(conn, now, limit, exclude)
        query = (
            sa.select(*_DUE_COLUMNS)
            .where(jobs.c.next_run_time <= now)
            .order_by(jobs.c.next_run_time)
            .limit(limit)
        )
        if exclude:
            query = query.where(jobs.c.id.not_in(list(exclude)))
        with store_errors(self._engine), self._reads.connect() as conn:
            return [row_to_job(row) for row in conn.execute(query)]

    def get_next_run_time(self) -> datetime | None:
        query = sa.select(sa.func.min(jobs.c.next_run_time))
        with store_errors(self._engine), self._reads.connect() as conn:
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
        stamp = self._batch_stamp()
        if self._postgres:  # one statement (``commit_postgres``), outside a transaction
            with store_errors(self._engine), self._reads.connect() as conn:
                fence_at = None if lease is None else fence_time(self._lease_clock, conn, now)
                fenced = commit_postgres(
                    conn, updates, runs, lease=lease, fence_at=fence_at, now=now, stamp=stamp
                )
            if lease is not None and not fenced:
                raise _lease_lost(lease)
            return
        with store_errors(self._engine), self._engine.begin() as conn:
            if lease is not None and not fence_check(conn, lease, self._lease_clock(conn, now)):
                raise _lease_lost(lease)
            writer = SqliteBatchWriter(conn, stamp=stamp)
            writer.advance([u for u in updates if not u.remove], now)
            writer.remove([u for u in updates if u.remove])
            writer.record(runs)

    def _batch_stamp(self) -> Callable[[datetime | None], Any]:
        """The value bound for a ``UtcDateTime``, memoized for one batch.

        Naive UTC text for PostgreSQL's JSON rows (which bypass the column type); on SQLite the
        same processor as SQLAlchemy's, so stored text compares equal.  Called once per
        distinct time: a batch's runs share their publish time, a burst's jobs their times.
        """
        process = naive_utc_text if self._postgres else self._bind_timestamp
        return functools.lru_cache(maxsize=None)(lambda value: process(value))


def _lease_lost(lease: Lease) -> LeaseLost:
    return LeaseLost(f"lease epoch {lease.epoch} is no longer current")


def _conflicting_id(exc: sa.exc.IntegrityError, batch: dict[str, Job]) -> str:
    """The id a concurrent insert took first, as far as the driver's message tells."""
    message = str(exc.orig)
    return next((job_id for job_id in batch if f"({job_id})" in message), next(iter(batch)))
