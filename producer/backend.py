"""Opening the stores behind a ``database_url``: SQL (SQLite, PostgreSQL) or ``memory://``.

The SQL schema is brought up to date (Alembic, safe when several processes start at once)
the first time a process opens the database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dueq.producer.clock import Clock, utc_now
from dueq.producer.history import MemoryRunHistory, RunHistory, SqlRunHistory
from dueq.producer.leader import LeaderLease, MemoryLeaderLease, SqlLeaderLease
from dueq.producer.leader.dbclock import LeaseClock, database_time
from dueq.producer.leader.identity import ProcessIdentity
from dueq.producer.retrystore import MemoryRetryStore, RetryStore, SqlRetryStore
from dueq.producer.store.base import JobStore
from dueq.producer.store.memory import MemoryJobStore
from dueq.producer.store.sql import SqlJobStore
from dueq.shared.db import open_database

__all__ = ["MEMORY_DATABASE_URL", "Backend", "open_backend"]

# A database_url that keeps everything in this process (tests, trying the API out).
MEMORY_DATABASE_URL = "memory://"


@dataclass(frozen=True, kw_only=True)
class Backend:
    """The stores of one database, and how to let go of it."""

    store: JobStore
    leader: LeaderLease
    history: RunHistory
    retries: RetryStore
    close: Callable[[], None]


def open_backend(
    database_url: str,
    clock: Clock = utc_now,
    *,
    lease_clock: LeaseClock = database_time,
    schema: str | None = None,
) -> Backend:
    """The stores for ``database_url``; raises ``StoreUnavailable`` if it cannot be reached.

    ``lease_clock`` decides lease expiry: the database's clock, unless a test drives the
    backend with a fake ``clock`` and passes ``caller_time`` so the lease follows it.
    ``schema`` is the PostgreSQL schema of dueq's tables (``DUEQ_DATABASE_SCHEMA``).
    """
    if database_url.startswith("memory:"):
        leader = MemoryLeaderLease()
        # The history asks the store (bound below) whether a reported job exists.
        history = MemoryRunHistory(job_exists=lambda job_id: store.get_job(job_id) is not None)
        store = MemoryJobStore(leader=leader, history=history)
        return Backend(
            store=store,
            leader=leader,
            history=history,
            retries=MemoryRetryStore(leader),
            close=lambda: None,
        )
    engine = open_database(database_url, schema=schema)
    return Backend(
        store=SqlJobStore(engine, clock, lease_clock=lease_clock),
        leader=SqlLeaderLease(engine, clock=lease_clock, identity=ProcessIdentity.current()),
        history=SqlRunHistory(engine),
        retries=SqlRetryStore(engine),
        close=engine.dispose,
    )
