"""On PostgreSQL the loop's reads and its commit are each one statement outside a transaction.

In a transaction each read costs psycopg's ``BEGIN`` and the pool's ``ROLLBACK`` besides the
query: two more round trips, three times a tick.  The commit is one call of
``dueq_commit_batch`` (migration 0008), atomic as any single statement.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from dueq.producer.backend import Backend, open_backend
from dueq.producer.leader.dbclock import caller_time
from dueq.producer.store import JobUpdate
from tests.integration.producer.producer_support import STORE_NOW
from tests.integration.producer.test_producer_store_contract import LEASE, a_job


@pytest.fixture
def pg_backend(pg_schema_url: str) -> Iterator[Backend]:
    opened = open_backend(pg_schema_url, clock=lambda: STORE_NOW, lease_clock=caller_time)
    yield opened
    opened.close()


def _autocommit_of_each_statement(backend: Backend) -> tuple[list[bool], Any]:
    engine = backend.store._engine  # type: ignore[attr-defined]
    seen: list[bool] = []

    def record(conn: sa.Connection, *_: object) -> None:
        driver: Any = conn.connection.driver_connection
        seen.append(bool(driver.autocommit))

    sa.event.listen(engine, "before_cursor_execute", record)
    return seen, lambda: sa.event.remove(engine, "before_cursor_execute", record)


def test_the_loops_reads_and_its_commit_run_each_as_one_statement_on_its_own(
    pg_backend: Backend,
) -> None:
    pg_backend.store.add_job(a_job("j", at=STORE_NOW))
    seen, stop = _autocommit_of_each_statement(pg_backend)
    try:
        due = pg_backend.store.get_due_jobs(STORE_NOW, limit=10)
        pg_backend.store.get_next_run_time()
        pg_backend.retries.next_due()
        pg_backend.retries.due(STORE_NOW, 10)
        reads = list(seen)
        seen.clear()
        lease = pg_backend.leader.acquire("me", STORE_NOW, LEASE)
        later = STORE_NOW + timedelta(seconds=10)
        update = JobUpdate(
            job_id="j", seen_next_run_time=STORE_NOW, next_run_time=later, next_fire_time=later
        )
        seen.clear()  # the lease's own statements
        pg_backend.store.commit_batch([update], [], lease=lease, now=STORE_NOW)
        writes = list(seen)
    finally:
        stop()
    assert [job.id for job in due] == ["j"]
    assert len(reads) == 4  # one statement each
    assert all(reads), reads
    assert writes == [True]  # the commit function, called outside a transaction
    assert pg_backend.store.get_next_run_time() == later
