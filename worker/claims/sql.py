"""Claims in the ``dueq_claims`` table: max_instances and dedupe across the whole fleet.

A claim is taken in one transaction that first serializes every claimer of the same job
(PostgreSQL: a transaction-scoped advisory lock keyed by the job id; SQLite: ``BEGIN
IMMEDIATE``, which takes the database's single write lock), then counts the job's live
claims and inserts its own.  Without that serialization two workers could both count
``max_instances - 1`` and both insert.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from dueq.shared.errors import StoreUnavailable
from dueq.shared.protocol import RunRequest, encode
from dueq.shared.tables import claims
from dueq.worker.claims.base import (
    Claimed,
    ClaimResult,
    ClaimStatus,
    ClaimStore,
    Duplicate,
    Expired,
    Full,
)

__all__ = ["SqlClaimStore"]

# First key of the two-key advisory lock: keeps dueq's per-job claim locks apart from any
# other advisory locks the application's database may use ("dqcl").
_CLAIM_LOCK_NAMESPACE = 0x6471636C - 2**31

_RUNNING, _FINISHED, _ABANDONED = (s.value for s in ClaimStatus)


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

    def close(self) -> None:
        self._engine.dispose()

    def _url(self) -> str:
        return self._engine.url.render_as_string(hide_password=False)

    def lookup(self, run_id: str, now: datetime) -> Duplicate | None:
        query = sa.select(claims.c.status, claims.c.lease_expires_at).where(
            claims.c.run_id == run_id
        )
        try:
            with self._engine.connect() as conn:
                row = conn.execute(query).first()
        except sa.exc.OperationalError as exc:
            raise StoreUnavailable(self._url(), str(exc.orig)) from exc
        return None if row is None else _duplicate(row.status, row.lease_expires_at, now)

    def claim(
        self, run: RunRequest, worker_id: str, now: datetime, lease: timedelta
    ) -> ClaimResult:
        try:
            with self._engine.connect() as conn:
                self._begin_serialized(conn, run.job_id)
                result = self._claim_in(conn, run, worker_id, now, lease)
                conn.commit()
                return result
        except sa.exc.OperationalError as exc:
            raise StoreUnavailable(self._url(), str(exc.orig)) from exc

    def _begin_serialized(self, conn: Connection, job_id: str) -> None:
        if self._sqlite:
            # pysqlite begins lazily and deferred; an explicit BEGIN IMMEDIATE takes the
            # write lock now, so the count below cannot be overtaken by another process.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.execute(
                sa.text("SELECT pg_advisory_xact_lock(:ns, :key)"),
                {"ns": _CLAIM_LOCK_NAMESPACE, "key": _job_lock_key(job_id)},
            )

    def _claim_in(
        self, conn: Connection, run: RunRequest, worker_id: str, now: datetime, lease: timedelta
    ) -> ClaimResult:
        row = conn.execute(
            sa.select(claims.c.status, claims.c.lease_expires_at).where(
                claims.c.run_id == run.run_id
            )
        ).first()
        if row is not None:
            duplicate = _duplicate(row.status, row.lease_expires_at, now)
            if duplicate is not None:
                return duplicate
        running = self._live_count(conn, run, now)
        if running >= run.max_instances:
            return Full(running)
        values = {
            "job_id": run.job_id,
            "worker_id": worker_id,
            "status": _RUNNING,
            "claimed_at": now,
            "lease_expires_at": now + lease,
            "finished_at": None,
            "payload": encode(run).decode(),
        }
        if row is None:
            conn.execute(claims.insert().values(run_id=run.run_id, **values))
        else:
            conn.execute(claims.update().where(claims.c.run_id == run.run_id).values(**values))
        return Claimed(taken_over=row is not None)

    @staticmethod
    def _live_count(conn: Connection, run: RunRequest, now: datetime) -> int:
        query = sa.select(sa.func.count()).where(
            claims.c.job_id == run.job_id,
            claims.c.status == _RUNNING,
            claims.c.lease_expires_at > now,
            claims.c.run_id != run.run_id,
        )
        return int(conn.execute(query).scalar_one())

    def renew(self, worker_id: str, run_ids: Sequence[str], until: datetime) -> set[str]:
        if not run_ids:
            return set()
        statement = (
            claims.update()
            .where(
                claims.c.run_id.in_(list(run_ids)),
                claims.c.worker_id == worker_id,
                claims.c.status == _RUNNING,
            )
            .values(lease_expires_at=until)
            .returning(claims.c.run_id)
        )
        return {row.run_id for row in self._write(statement)}

    def finish(self, run_id: str, now: datetime) -> None:
        statement = (
            claims.update()
            .where(claims.c.run_id == run_id)
            .values(status=_FINISHED, finished_at=now)
        )
        self._write(statement)

    def release(self, run_id: str) -> None:
        self._write(claims.delete().where(claims.c.run_id == run_id, claims.c.status == _RUNNING))

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
            raise StoreUnavailable(self._url(), str(exc.orig)) from exc

    def _write(self, statement: sa.Executable) -> list[sa.Row[tuple[str, ...]]]:
        """Run one write in its own transaction; rows of its RETURNING clause, if any."""
        try:
            with self._engine.begin() as conn:
                result = conn.execute(statement)
                return list(result) if result.returns_rows else []
        except sa.exc.OperationalError as exc:
            raise StoreUnavailable(self._url(), str(exc.orig)) from exc


def _duplicate(status: str, lease_expires_at: datetime, now: datetime) -> Duplicate | None:
    if status == _FINISHED:
        return Duplicate(ClaimStatus.FINISHED)
    if status == _RUNNING and lease_expires_at > now:
        return Duplicate(ClaimStatus.RUNNING)
    return None
