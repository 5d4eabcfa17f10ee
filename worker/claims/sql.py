"""Claims in the ``dueq_claims`` table: max_instances and dedupe across the whole fleet.

A batch of claims is taken in one transaction that first serializes every claimer of the
batch's jobs (PostgreSQL: transaction-scoped advisory locks keyed by job id, taken in
ascending key order so two workers never wait on each other in a cycle; SQLite: ``BEGIN
IMMEDIATE``, the database's single write lock), then reads the batch's existing claims
and its jobs' live counts, and inserts the claims it admits.  Without that serialization
two workers could both count ``max_instances - 1`` and both insert.  Every call is one
transaction with one pool checkout, whatever the batch size.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine

from dueq.shared.errors import StoreUnavailable
from dueq.shared.protocol import RunRequest, encode
from dueq.shared.sqllists import one_of
from dueq.shared.tables import claims
from dueq.worker.claims import pipelined
from dueq.worker.claims.base import (
    Claimed,
    ClaimResult,
    ClaimStatus,
    ClaimStore,
    Duplicate,
    Expired,
)
from dueq.worker.claims.batch import BatchPlan, ClaimRow, judge, row_duplicate

__all__ = ["SqlClaimStore"]

_T = TypeVar("_T")

# First key of the two-key advisory lock: keeps dueq's per-job claim locks apart from any
# other advisory locks the application's database may use ("dqcl").
_CLAIM_LOCK_NAMESPACE = 0x6471636C - 2**31

_RUNNING, _FINISHED, _ABANDONED = (s.value for s in ClaimStatus)

# One statement takes every lock of a batch, in the order of the array (WITH ORDINALITY
# and ORDER BY make that order explicit: PostgreSQL evaluates volatile functions of the
# select list after sorting).
_LOCK_JOBS = sa.text(
    "SELECT pg_advisory_xact_lock(:ns, t.k) "
    "FROM unnest(CAST(:keys AS integer[])) WITH ORDINALITY AS t(k, i) ORDER BY t.i"
)


class _Statements:
    """The claim statements, built once per store (their compiled form is then cached)."""

    def __init__(self, sqlite: bool) -> None:
        run_ids = one_of(claims.c.run_id, "run_ids", postgres=not sqlite)
        stored = sa.select(
            claims.c.run_id.label("key"),
            claims.c.status,
            claims.c.lease_expires_at,
            sa.null().label("live"),
        ).where(run_ids)
        live = sa.and_(
            claims.c.status == _RUNNING,
            claims.c.lease_expires_at > sa.bindparam("now", type_=claims.c.lease_expires_at.type),
        )
        # The batch's stored claims and its jobs' live counts in one round trip.
        self.existing_and_live = sa.union_all(stored, _live_counts(live, sqlite))
        self.existing = sa.select(
            claims.c.run_id, claims.c.status, claims.c.lease_expires_at
        ).where(run_ids)
        self.finish = (
            claims.update()
            .where(run_ids)
            .values(
                status=_FINISHED,
                finished_at=sa.bindparam("finished_at", type_=claims.c.finished_at.type),
            )
        )
        self.release = claims.delete().where(run_ids, claims.c.status == _RUNNING)


def _live_counts(live: sa.ColumnElement[bool], sqlite: bool) -> sa.Select[Any]:
    """``(job_id, NULL, NULL, count)`` of the ``live`` claims of each job bound as ``job_ids``.

    PostgreSQL counts each job in a subquery of its own, an index lookup on (job_id,
    status) whatever the planner knows (see ``pipelined._EXISTING_AND_LIVE``); SQLite
    groups.
    """
    if sqlite:
        return (
            sa.select(claims.c.job_id, sa.null(), sa.null(), sa.func.count())
            .where(one_of(claims.c.job_id, "job_ids", postgres=not sqlite), live)
            .group_by(claims.c.job_id)
        )
    jobs = (
        sa.func.unnest(sa.bindparam("job_ids", type_=postgresql.ARRAY(sa.String)))
        .table_valued("job_id")
        .render_derived(name="j")
    )
    count = (
        sa.select(sa.func.count())
        .select_from(claims)
        .where(claims.c.job_id == jobs.c.job_id, live)
        .scalar_subquery()
    )
    return sa.select(jobs.c.job_id, sa.null(), sa.null(), count)


def _job_lock_key(job_id: str) -> int:
    """A stable signed 32-bit key for ``job_id`` (Python's hash() differs per process)."""
    digest = hashlib.blake2b(job_id.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


class SqlClaimStore(ClaimStore):
    """A ``ClaimStore`` on PostgreSQL or SQLite through SQLAlchemy Core."""

    durable = True

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        self._sql = _Statements(self._sqlite)

    def close(self) -> None:
        self._engine.dispose()

    def _unavailable(self, exc: sa.exc.DBAPIError) -> StoreUnavailable:
        url = self._engine.url.render_as_string(hide_password=False)
        return StoreUnavailable(url, str(exc.orig))

    def lookup_many(self, run_ids: Sequence[str], now: datetime) -> dict[str, Duplicate]:
        if not run_ids:
            return {}
        rows = self._pipelined(lambda raw: pipelined.stored(raw, run_ids))
        if rows is None:
            try:
                with self._engine.connect() as conn:
                    result = conn.execute(self._sql.existing, {"run_ids": list(run_ids)})
                    rows = {r.run_id: ClaimRow(r.status, r.lease_expires_at) for r in result}
            except sa.exc.OperationalError as exc:
                raise self._unavailable(exc) from exc
        found = {run_id: row_duplicate(row, now) for run_id, row in rows.items()}
        return {run_id: duplicate for run_id, duplicate in found.items() if duplicate}

    def claim_many(
        self, runs: Sequence[RunRequest], worker_id: str, now: datetime, lease: timedelta
    ) -> list[ClaimResult]:
        if not runs:
            return []
        keys = sorted({_job_lock_key(run.job_id) for run in runs})
        if len({run.run_id for run in runs}) == len(runs):  # else a run is its own duplicate
            fresh = self._one_statement(
                lambda raw: pipelined.claim_all_fresh(
                    raw, _CLAIM_LOCK_NAMESPACE, keys, runs, worker_id, now, lease
                )
            )
            if fresh:
                return [Claimed() for _ in runs]
        plan = self._pipelined(
            lambda raw: pipelined.claim_batch(
                raw, _CLAIM_LOCK_NAMESPACE, keys, runs, worker_id, now, lease
            )
        )
        if plan is None:
            try:
                with self._engine.connect() as conn:
                    job_ids = {run.job_id for run in runs}
                    self._lock_jobs(conn, job_ids)
                    existing, live = self._existing_and_live(conn, runs, job_ids, now)
                    plan = judge(runs, existing, live, now)
                    _store(conn, plan, worker_id, now, lease)
                    conn.commit()
            except sa.exc.OperationalError as exc:
                raise self._unavailable(exc) from exc
        return plan.results

    def _pipelined(self, work: Callable[[Any], _T]) -> _T | None:
        """``work(raw)`` in one transaction in psycopg 3's pipeline mode, its ``COMMIT``
        sent with whatever ``work`` queued last; None on another driver (or SQLite).

        SQLAlchemy begins and commits, so the engine's events and the pool see the
        transaction as usual.
        """

        def run(conn: Connection, raw: Any) -> _T:
            transaction = conn.begin()
            with raw.pipeline():
                result = work(raw)
                transaction.commit()
            return result

        return self._on_psycopg(run)

    def _one_statement(self, work: Callable[[Any], _T]) -> _T | None:
        """``work(raw)``, a single statement, committed on its own (autocommit): one round
        trip, where a transaction around it costs a ``BEGIN`` and a ``COMMIT`` more (a
        claim closed alone, at a low rate, spent as much CPU on those as on the rest).
        None on another driver (or SQLite)."""

        def run(_conn: Connection, raw: Any) -> _T:
            raw.autocommit = True  # no transaction is open: SQLAlchemy began none
            try:
                return work(raw)
            finally:
                raw.autocommit = False

        return self._on_psycopg(run)

    def _on_psycopg(self, run: Callable[[Connection, Any], _T]) -> _T | None:
        """``run(conn, raw)`` on a pooled connection and its psycopg 3 connection; None on
        another driver (or SQLite).  A lost connection is invalidated and becomes
        ``StoreUnavailable`` as on SQLAlchemy's own path."""
        if self._sqlite:
            return None
        try:
            with self._engine.connect() as conn:
                raw: Any = conn.connection.driver_connection
                if not pipelined.supports(raw):
                    return None
                import psycopg  # the driver of this connection

                try:
                    return run(conn, raw)
                except psycopg.OperationalError as exc:
                    conn.invalidate(exc)  # the pool must not hand this connection out again
                    url = self._engine.url.render_as_string(hide_password=False)
                    raise StoreUnavailable(url, str(exc)) from exc
        except sa.exc.OperationalError as exc:
            raise self._unavailable(exc) from exc

    def _lock_jobs(self, conn: Connection, job_ids: Collection[str]) -> None:
        if self._sqlite:
            # pysqlite begins lazily and deferred; an explicit BEGIN IMMEDIATE takes the
            # write lock now, so the counts read next cannot be overtaken by another process.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        keys = sorted({_job_lock_key(job_id) for job_id in job_ids})
        conn.execute(_LOCK_JOBS, {"ns": _CLAIM_LOCK_NAMESPACE, "keys": keys})

    def _existing_and_live(
        self,
        conn: Connection,
        runs: Sequence[RunRequest],
        job_ids: Collection[str],
        now: datetime,
    ) -> tuple[dict[str, ClaimRow], dict[str, int]]:
        """The batch's stored claims and its jobs' live counts, in one round trip.

        Read after the job locks were taken, in a statement of its own: its snapshot then
        sees every claim committed by whoever held a lock before us.
        """
        params = {
            "run_ids": list({run.run_id for run in runs}),
            "job_ids": list(job_ids),
            "now": now,
        }
        existing: dict[str, ClaimRow] = {}
        live: dict[str, int] = {}
        for row in conn.execute(self._sql.existing_and_live, params):
            if row.live is None:
                existing[row.key] = ClaimRow(row.status, row.lease_expires_at)
            else:
                live[row.key] = int(row.live)
        return existing, live

    def renew(
        self, worker_id: str, run_ids: Sequence[str], until: datetime
    ) -> dict[str, str | None]:
        if not run_ids:
            return {}
        statement = (
            claims.update()
            .where(
                claims.c.run_id.in_(list(run_ids)),
                claims.c.worker_id == worker_id,
                claims.c.status == _RUNNING,
            )
            .values(lease_expires_at=until)
            .returning(claims.c.run_id, claims.c.cancelled_by)
        )
        return {row.run_id: row.cancelled_by for row in self._write(statement)}

    def request_cancel(self, job_id: str, by_run_id: str, now: datetime) -> int:
        statement = (
            claims.update()
            .where(
                claims.c.job_id == job_id,
                claims.c.status == _RUNNING,
                claims.c.lease_expires_at > now,
                claims.c.run_id != by_run_id,
                claims.c.cancelled_by.is_(None),
            )
            .values(cancelled_by=by_run_id)
            .returning(claims.c.run_id)
        )
        return len(self._write(statement))

    def finish_many(self, run_ids: Sequence[str], now: datetime) -> None:
        # One statement, one round trip on psycopg 3.
        work = functools.partial(pipelined.finish, run_ids=run_ids, now=now)
        if run_ids and self._one_statement(work) is None:
            self._write(self._sql.finish, {"run_ids": list(run_ids), "finished_at": now})

    def release_many(self, run_ids: Sequence[str]) -> None:
        work = functools.partial(pipelined.release, run_ids=run_ids)
        if run_ids and self._one_statement(work) is None:
            self._write(self._sql.release, {"run_ids": list(run_ids)})

    def abandon_expired(self, now: datetime, lease: timedelta) -> list[Expired]:
        # One UPDATE ... RETURNING: a concurrent reaper blocks on the same rows, re-reads
        # them after our commit, no longer matches and so returns nothing for them.
        statement = (
            claims.update()
            .where(
                claims.c.status.in_([_RUNNING, _ABANDONED]),
                claims.c.lease_expires_at <= now,
            )
            .values(status=_ABANDONED, lease_expires_at=now + lease)
            .returning(claims.c.run_id, claims.c.job_id, claims.c.worker_id, claims.c.payload)
        )
        return [Expired(r.run_id, r.job_id, r.worker_id, r.payload) for r in self._write(statement)]

    def purge_finished(self, before: datetime) -> int:
        statement = claims.delete().where(
            claims.c.status == _FINISHED, claims.c.finished_at < before
        )
        try:
            with self._engine.begin() as conn:
                return int(conn.execute(statement).rowcount)
        except sa.exc.OperationalError as exc:
            raise self._unavailable(exc) from exc

    def _write(
        self, statement: sa.Executable, params: dict[str, object] | None = None
    ) -> list[sa.Row[tuple[str, ...]]]:
        """Run one write in its own transaction; rows of its RETURNING clause, if any."""
        try:
            with self._engine.begin() as conn:
                result = conn.execute(statement, params)
                return list(result) if result.returns_rows else []
        except sa.exc.OperationalError as exc:
            raise self._unavailable(exc) from exc


def _store(
    conn: Connection, plan: BatchPlan, worker_id: str, now: datetime, lease: timedelta
) -> None:
    """Write the claims ``plan`` admitted: inserts in one statement, takeovers updated."""

    def values(run: RunRequest) -> dict[str, object]:
        return {
            "run_id": run.run_id,
            "job_id": run.job_id,
            "worker_id": worker_id,
            "status": _RUNNING,
            "claimed_at": now,
            "lease_expires_at": now + lease,
            "finished_at": None,
            "payload": encode(run).decode(),
            "cancelled_by": None,
        }

    if plan.inserts:
        conn.execute(claims.insert(), [values(run) for run in plan.inserts])
    for run in plan.takeovers:  # rare: a run handed over after its worker died
        row = values(run)
        del row["run_id"]
        conn.execute(claims.update().where(claims.c.run_id == run.run_id).values(**row))
