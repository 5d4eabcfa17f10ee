"""A batch of new claims on PostgreSQL is one call of ``dueq_claim_fresh`` (migration 0007):
its count must see what the job lock's previous holder committed, and a connection lost
while it waits for a lock must leave nothing behind."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import pytest
import sqlalchemy as sa

from dueq.shared.db import create_engine, upgrade_schema
from dueq.shared.errors import StoreUnavailable
from dueq.worker.claims import Claimed, ClaimResult, Full, SqlClaimStore
from dueq.worker.claims.sql import _CLAIM_LOCK_NAMESPACE, _job_lock_key
from tests.integration.worker.test_worker_claim_store_contract import LEASE, NOW, make_run
from tests.support.waiting import wait_until

# Backends of this database waiting for an advisory lock (other than the asking one).
_WAITING = sa.text(
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
    "AND pid <> pg_backend_pid() "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)
_INSERT_RUNNING_CLAIM = sa.text(
    "INSERT INTO dueq_claims (run_id, job_id, worker_id, status, claimed_at, "
    "lease_expires_at, payload) VALUES (:run_id, :job_id, 'other', 'running', :now, :expires, '{}')"
)


@pytest.fixture
def engines(pg_schema_url: str) -> Iterator[tuple[SqlClaimStore, sa.Engine]]:
    engine = create_engine(pg_schema_url, pre_ping=False)  # as workers
    upgrade_schema(engine)
    admin = sa.create_engine(pg_schema_url)
    yield SqlClaimStore(engine), admin
    engine.dispose()
    admin.dispose()


def _waiting_backend(conn: sa.Connection) -> int:
    """The pid of the claim blocked on the job lock, once it is (pg_locks, polled: the
    server's lock table is the only place the wait shows)."""
    pid = wait_until(
        lambda: conn.execute(_WAITING).scalar(), "the claim to wait for the job lock", timeout=10
    )
    return int(pid)


def _hold_job_lock(conn: sa.Connection, job_id: str) -> None:
    conn.execute(
        sa.text("SELECT pg_advisory_xact_lock(:ns, :key)"),
        {"ns": _CLAIM_LOCK_NAMESPACE, "key": _job_lock_key(job_id)},
    )


@dataclass
class _Blocked:
    """A claim waiting for a job lock that ``other`` holds in an open transaction."""

    other: sa.Connection
    watcher: sa.Connection
    pid: int  # the claiming connection's server process
    outcome: list[list[ClaimResult] | BaseException]


@contextmanager
def _claim_blocked_by_held_lock(
    store: SqlClaimStore, admin: sa.Engine, job_id: str
) -> Iterator[_Blocked]:
    """Claim a new run of ``job_id`` while another session holds the job's lock; yield once
    the claim waits for it.  The other session commits when the block ends, and the claim's
    thread is then waited for."""
    outcome: list[list[ClaimResult] | BaseException] = []

    def claim() -> None:
        try:
            outcome.append(store.claim_many([make_run(job_id, minute=1)], "w1", NOW, LEASE))
        except BaseException as exc:
            outcome.append(exc)

    with admin.connect() as other, admin.connect() as watcher:
        thread = threading.Thread(target=claim)
        with other.begin():
            _hold_job_lock(other, job_id)
            thread.start()
            yield _Blocked(other, watcher, _waiting_backend(watcher), outcome)
        thread.join(10)


def test_a_claim_committed_while_a_new_batch_waits_for_the_job_lock_is_counted(
    engines: tuple[SqlClaimStore, sa.Engine],
) -> None:
    store, admin = engines
    with _claim_blocked_by_held_lock(store, admin, "job-1") as blocked:
        # The claim's statement began before this claim was made: a snapshot it took then
        # misses it, though it is committed before the lock is let go.
        blocked.other.execute(
            _INSERT_RUNNING_CLAIM,
            {"run_id": "r-other", "job_id": "job-1", "now": NOW.replace(tzinfo=None),
             "expires": (NOW + LEASE).replace(tzinfo=None)},
        )  # fmt: skip
    assert blocked.outcome == [[Full(1)]]


def test_a_new_batch_cut_off_while_it_waits_for_a_job_lock_stores_nothing(
    engines: tuple[SqlClaimStore, sa.Engine],
) -> None:
    store, admin = engines
    with _claim_blocked_by_held_lock(store, admin, "job-2") as blocked:
        terminate = sa.text("SELECT pg_terminate_backend(:pid)")
        blocked.watcher.execute(terminate, {"pid": blocked.pid})
    assert len(blocked.outcome) == 1, blocked.outcome
    assert isinstance(blocked.outcome[0], StoreUnavailable), blocked.outcome
    run = make_run("job-2", minute=1)
    assert store.lookup_many([run.run_id], NOW) == {}
    assert store.claim_many([run], "w2", NOW + timedelta(seconds=1), LEASE) == [Claimed()]
