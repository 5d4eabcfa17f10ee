"""Claims on psycopg 3: a new batch in one statement, any other in two round trips of
pipeline mode; finish and release in one statement each.

The common batch (every run new, every job with room) is one call of ``dueq_claim_fresh``,
a function of dueq's schema (migration 0007) that takes the job locks and then inserts
every claim or none: one query, outside a transaction block.  Any other batch is judged
run by run, as follows.

Through SQLAlchemy a batch costs five round trips (begin, the job locks, the read, the
insert, the commit), each a wait for the server and, in a worker whose slot threads run
Python meanwhile, a wait for the GIL after it.  In pipeline mode psycopg sends statements
without waiting for each result, and the server still runs them one after the other:

1. ``BEGIN``, the job locks and the read go out together.  The read is a statement of its
   own after the locks, so in READ COMMITTED its snapshot is taken once every lock is held
   and sees every claim committed by whoever held one before — as in the unpipelined
   transaction.  Its rows are the first (and only) wait.
2. ``judge`` decides in Python; the insert (one statement, arrays unnested) and the
   ``COMMIT`` go out together: the second wait.

Apart from that function, the statements are plain SQL for the ``dueq_claims`` table as
``shared.tables`` defines it (timestamps naive UTC).  SQLAlchemy still owns the connection
and the transaction, so the pool, ``invalidate`` after a lost connection and the engine's
events behave as before.  Other drivers (psycopg2) take SQLAlchemy's path in ``sql``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from dueq.shared.protocol import RunRequest, encode
from dueq.worker.claims.base import ClaimStatus
from dueq.worker.claims.batch import BatchPlan, ClaimRow, judge

__all__ = ["claim_all_fresh", "claim_batch", "finish", "release", "supports"]

_RUNNING = ClaimStatus.RUNNING.value

_LOCK_JOBS = (
    "SELECT pg_advisory_xact_lock(%s, t.k) "
    "FROM unnest(%b::integer[]) WITH ORDINALITY AS t(k, i) ORDER BY t.i"
)
# Statements that find rows by an array are planned anew on every call (``prepare=False``).
# psycopg prepares a statement on its 5th execution, and PostgreSQL then reuses a generic
# plan, which cannot know the array's length: made while the table was small (a new
# deployment's first seconds, before any statistics), it is a sequential scan, kept for
# the connection's whole life while the table grows (batches of 32 claims went from 1 to
# 15 ms within 25,000 claims).  Planning costs the server ~0.1 ms.
#
# The batch's stored claims, then its jobs' live counts (``live`` NULL on the first).
# Each job is counted by a subquery of its own, an index lookup on (job_id, status)
# whatever the planner expects: counted over ``job_id = ANY(...)``, a table where few
# claims look live (one with no statistics yet, a new deployment's first minute) was read
# through the (status, lease) index instead, whose entries for the running versions of
# finished claims stay until a vacuum: every batch visited every claim of the last lease.
_EXISTING_AND_LIVE = (
    "SELECT run_id, status, lease_expires_at, NULL::bigint FROM dueq_claims "
    "WHERE run_id = ANY(%b::text[]) "
    "UNION ALL "
    "SELECT j.job_id, NULL, NULL, (SELECT count(*) FROM dueq_claims AS c "
    "WHERE c.job_id = j.job_id AND c.status = %s AND c.lease_expires_at > %s) "
    "FROM unnest(%b::text[]) AS j(job_id)"
)
_STORED = "SELECT run_id, status, lease_expires_at FROM dueq_claims WHERE run_id = ANY(%b::text[])"
_INSERT = (
    "INSERT INTO dueq_claims (run_id, job_id, worker_id, status, claimed_at, "
    "lease_expires_at, finished_at, payload) "
    "SELECT r, j, %s, %s, %s, %s, NULL, p "
    "FROM unnest(%b::text[], %b::text[], %b::text[]) AS t(r, j, p)"
)
# ``claim_all_fresh``: every run of the batch, or none, is inserted, by the function
# migration 0007 creates (its docstring says why a function).  A run qualifies if no claim of
# its id is stored and its job's live claims plus the runs of that job up to it in the batch
# stay within its ``max_instances``: exactly when ``judge`` would admit every run of the
# batch.  The call is prepared by psycopg after five uses; the insert inside is planned anew.
_CLAIM_FRESH = "SELECT dueq_claim_fresh(%s, %b, %b, %b, %b, %b, %s, %s, %s, %s)"
_FINISH = "UPDATE dueq_claims SET status = %s, finished_at = %s WHERE run_id = ANY(%b::text[])"
_RELEASE = "DELETE FROM dueq_claims WHERE run_id = ANY(%b::text[]) AND status = %s"
_TAKE_OVER = (
    "UPDATE dueq_claims SET job_id = %s, worker_id = %s, status = %s, claimed_at = %s, "
    "lease_expires_at = %s, finished_at = NULL, cancelled_by = NULL, payload = %s "
    "WHERE run_id = %s"
)


def supports(driver_connection: Any) -> bool:
    """True if ``driver_connection`` is a psycopg 3 connection (it has pipeline mode)."""
    psycopg = sys.modules.get("psycopg")  # loaded if the connection is one of its own
    return psycopg is not None and isinstance(driver_connection, psycopg.Connection)


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def stored(raw: Any, run_ids: Sequence[str]) -> dict[str, ClaimRow]:
    """The stored claims of ``run_ids``, read in the caller's transaction (the lookup of
    late runs, which are only deduped)."""
    cursor = raw.cursor()
    cursor.execute(_STORED, (list(run_ids),), prepare=False)
    return {
        run_id: ClaimRow(status, lease_expires_at.replace(tzinfo=UTC))
        for run_id, status, lease_expires_at in cursor.fetchall()
    }


def claim_all_fresh(
    raw: Any,
    lock_namespace: int,
    lock_keys: Sequence[int],
    runs: Sequence[RunRequest],
    worker_id: str,
    now: datetime,
    lease: timedelta,
) -> bool:
    """Claim every run of ``runs`` if each is new and its job has room for it, or none: the
    common batch in one statement, run outside a transaction block (it is its own).  True if
    all were claimed.  ``runs`` must not repeat a run id (a repeat is a duplicate ``judge``
    sees)."""
    claimed_at, expires = _naive(now), _naive(now + lease)
    cursor = raw.cursor()
    cursor.execute(
        _CLAIM_FRESH,
        (
            lock_namespace,
            list(lock_keys),
            [run.run_id for run in runs],
            [run.job_id for run in runs],
            [encode(run).decode() for run in runs],
            [run.max_instances for run in runs],
            _RUNNING,
            worker_id,
            claimed_at,
            expires,
        ),
    )
    row = cursor.fetchone()
    return bool(row is not None and row[0])


def claim_batch(
    raw: Any,
    lock_namespace: int,
    lock_keys: Sequence[int],
    runs: Sequence[RunRequest],
    worker_id: str,
    now: datetime,
    lease: timedelta,
) -> BatchPlan:
    """Lock, read, judge and write ``runs``' claims on ``raw``, in the caller's pipeline
    and transaction: its ``COMMIT`` joins the insert in the second round trip."""
    raw.cursor().execute(_LOCK_JOBS, (lock_namespace, list(lock_keys)))
    cursor = raw.cursor()
    cursor.execute(
        _EXISTING_AND_LIVE,
        (
            list({run.run_id for run in runs}),
            _RUNNING,
            _naive(now),
            list({run.job_id for run in runs}),
        ),
        prepare=False,
    )
    existing: dict[str, ClaimRow] = {}
    live: dict[str, int] = {}
    for key, status, lease_expires_at, count in cursor.fetchall():
        if count is None:
            existing[key] = ClaimRow(status, lease_expires_at.replace(tzinfo=UTC))
        else:
            live[key] = int(count)
    plan = judge(runs, existing, live, now)
    _store(raw, plan, worker_id, now, lease)
    return plan


def _store(raw: Any, plan: BatchPlan, worker_id: str, now: datetime, lease: timedelta) -> None:
    """Queue the writes ``plan`` decided (sent with the caller's ``COMMIT``)."""
    claimed_at, expires = _naive(now), _naive(now + lease)
    if plan.inserts:
        raw.cursor().execute(
            _INSERT,
            (
                worker_id,
                _RUNNING,
                claimed_at,
                expires,
                [run.run_id for run in plan.inserts],
                [run.job_id for run in plan.inserts],
                [encode(run).decode() for run in plan.inserts],
            ),
        )
    for run in plan.takeovers:  # rare: a run handed over after its worker died
        payload = encode(run).decode()
        row = (run.job_id, worker_id, _RUNNING, claimed_at, expires, payload, run.run_id)
        raw.cursor().execute(_TAKE_OVER, row)


def finish(raw: Any, run_ids: Sequence[str], now: datetime) -> bool:
    """Mark ``run_ids``' claims finished: one statement (the caller commits it)."""
    params = (ClaimStatus.FINISHED.value, _naive(now), list(run_ids))
    raw.cursor().execute(_FINISH, params, prepare=False)
    return True


def release(raw: Any, run_ids: Sequence[str]) -> bool:
    """Forget ``run_ids``' running claims: one statement (the caller commits it)."""
    raw.cursor().execute(_RELEASE, (list(run_ids), _RUNNING), prepare=False)
    return True
