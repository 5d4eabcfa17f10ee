"""A worker's report racing the loop's commit of a one-shot job's run (PostgreSQL).

During a burst a worker can run a one-shot job and report it before the loop commits the
publish; that commit deletes the job and inserts the run as ``submitted`` in one
transaction.  The events consumer's transaction reads in two statements (which runs are
stored, which jobs exist); here the commit is made to land exactly between them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from dueq.producer.backend import Backend, open_backend
from dueq.producer.history import RunStatus, SqlRunHistory
from dueq.producer.leader.dbclock import caller_time
from dueq.producer.store import JobUpdate, SubmittedRun
from dueq.shared.db import open_database
from dueq.shared.protocol import JobExecuted, make_run_id
from tests.integration.producer.producer_support import STORE_NOW
from tests.integration.producer.test_producer_store_contract import a_job

T0 = STORE_NOW
RUN_ID = make_run_id("once", T0)


@pytest.fixture
def backend(pg_schema_url: str) -> Iterator[Backend]:
    opened = open_backend(pg_schema_url, clock=lambda: T0, lease_clock=caller_time)
    yield opened
    opened.close()


@pytest.fixture
def history_engine(pg_schema_url: str) -> Iterator[sa.Engine]:
    """The events consumer's own engine, so a hook can watch its statements alone."""
    engine = open_database(pg_schema_url)
    yield engine
    engine.dispose()


def _executed() -> JobExecuted:
    return JobExecuted(
        worker_id="w", hostname="h", pid=1, emitted_at=T0, run_id=RUN_ID, job_id="once",
        scheduled_at=T0, started_at=T0, finished_at=T0, duration_s=0.0, lateness_s=0.0,
        retval=None,
    )  # fmt: skip


def _commit_publish(backend: Backend) -> None:
    """What the loop commits after publishing the job's only run: remove it, record it."""
    lease = backend.leader.acquire("leader", T0, timedelta(seconds=10))
    assert lease is not None
    done = JobUpdate(
        job_id="once", seen_next_run_time=T0, next_run_time=None, next_fire_time=None,
        remove=True,
    )  # fmt: skip
    run = SubmittedRun(run_id=RUN_ID, job_id="once", scheduled_at=T0, published_at=T0)
    backend.store.commit_batch([done], [run], lease=lease, now=T0)


def test_an_outcome_recorded_while_the_loop_commits_its_run_is_kept(
    backend: Backend, history_engine: sa.Engine
) -> None:
    backend.store.add_job(a_job("once"))
    selects: list[str] = []

    def commit_after_first_select(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)
            if len(selects) == 1:
                _commit_publish(backend)  # another connection, between the two reads

    sa.event.listen(history_engine, "after_cursor_execute", commit_after_first_select)
    SqlRunHistory(history_engine).record_many([_executed()], T0)

    assert len(selects) >= 2, "the recording read in one statement: nothing raced"
    run = backend.history.get_run(RUN_ID)
    assert run is not None
    assert run.status is RunStatus.EXECUTED
    assert run.published_at == T0
