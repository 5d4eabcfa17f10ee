"""Pending retries in ``dueq_retries``, with the attempt's history row as idempotence key.

Scheduling a retry inserts two rows in one transaction: the attempt's ``dueq_runs`` row
(status submitted, not yet published: ``dueq runs`` shows the retry waiting) and its
``dueq_retries`` row.  The history row outlives the retry row, so a failure event
redelivered after the retry was published finds it and schedules nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dueq.producer.leader.base import Lease, LeaseLost
from dueq.producer.leader.sql import fence_check
from dueq.producer.retrystore.base import PendingRetry, RetryStore
from dueq.producer.sqlerrors import store_errors
from dueq.shared.db import single_statement_reads
from dueq.shared.protocol import decode_run, encode
from dueq.shared.tables import UtcDateTime, retries, runs

__all__ = ["SqlRetryStore"]

_SUBMITTED = "submitted"
_UTC = UtcDateTime()


class SqlRetryStore(RetryStore):
    """Retries in the shared database (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._reads = single_statement_reads(engine)

    def schedule(self, pending: Sequence[PendingRetry], now: datetime) -> int:
        if not pending:
            return 0
        ids = [retry.run_id for retry in pending]
        with store_errors(self._engine), self._engine.begin() as conn:
            known = set(conn.scalars(sa.select(runs.c.run_id).where(runs.c.run_id.in_(ids))))
            fresh = {r.run_id: r for r in pending if r.run_id not in known}
            if not fresh:
                return 0
            conn.execute(runs.insert(), [_history_row(r, now) for r in fresh.values()])
            conn.execute(retries.insert(), [_retry_row(r, now) for r in fresh.values()])
        return len(fresh)

    def due(self, now: datetime, limit: int) -> list[PendingRetry]:
        query = (
            sa.select(retries.c.payload, retries.c.due_at)
            .where(retries.c.due_at <= now)
            .order_by(retries.c.due_at)
            .limit(limit)
        )
        with store_errors(self._engine), self._reads.connect() as conn:
            rows = conn.execute(query).all()
        return [
            PendingRetry(request=decode_run(row.payload.encode()), due_at=row.due_at)
            for row in rows
        ]

    def next_due(self) -> datetime | None:
        with store_errors(self._engine), self._reads.connect() as conn:
            value = conn.execute(sa.select(sa.func.min(retries.c.due_at))).scalar_one_or_none()
        # min() loses the column type on some dialects: convert like UtcDateTime does.
        return None if value is None else _UTC.process_result_value(value, self._engine.dialect)

    def published(self, run_ids: Sequence[str], *, lease: Lease | None, now: datetime) -> None:
        if not run_ids:
            return
        with store_errors(self._engine), self._engine.begin() as conn:
            if lease is not None and not fence_check(conn, lease, now):
                raise LeaseLost(f"lease epoch {lease.epoch} is no longer current")
            conn.execute(retries.delete().where(retries.c.run_id.in_(list(run_ids))))


def _history_row(retry: PendingRetry, now: datetime) -> dict[str, object]:
    request = retry.request
    return {
        "run_id": request.run_id,
        "job_id": request.job_id,
        "scheduled_at": request.scheduled_at,
        "status": _SUBMITTED,
        "published_at": None,
        "redelivered": False,
        "attempt": request.attempt,
        "updated_at": now,
    }


def _retry_row(retry: PendingRetry, now: datetime) -> dict[str, object]:
    request = retry.request
    return {
        "run_id": request.run_id,
        "job_id": request.job_id,
        "attempt": request.attempt,
        "due_at": retry.due_at,
        "payload": encode(request).decode(),
        "created_at": now,
    }
