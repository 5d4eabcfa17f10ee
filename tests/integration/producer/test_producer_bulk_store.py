"""Contract of ``JobStore.add_jobs`` and of the run a worker reported before the commit.

Run against every store: memory, SQLite, PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from dueq.producer.backend import Backend
from dueq.producer.history import RunStatus
from dueq.producer.job import Job
from dueq.producer.store import SubmittedRun
from dueq.shared.errors import ConflictingIdError
from dueq.shared.protocol import JobExecuted, make_run_id
from dueq.shared.triggers import CronTrigger, IntervalTrigger
from tests.integration.producer.producer_support import STORE_NOW

T0 = STORE_NOW
LATER = T0 + timedelta(hours=1)
LEASE = timedelta(seconds=10)


TRIGGER = IntervalTrigger(seconds=10, start_date=T0, timezone="UTC")


def a_job(job_id: str, at: datetime | None = T0, **changes: object) -> Job:
    job = Job(
        id=job_id, name=f"name-{job_id}", func="pkg.jobs:work", trigger=TRIGGER,
        args=(1, "a", None, [True], {"q": 'x"y'}), kwargs={"x": {"y": 2.5}},
        misfire_grace_time=30.0, coalesce=False, max_instances=3, queue="q1",
        next_run_time=at, next_fire_time=at,
    )  # fmt: skip
    return job.replace(**changes)


def test_a_batch_of_jobs_round_trips(backend: Backend) -> None:
    jobs = [a_job(f"j{i}", at=T0 + timedelta(seconds=i)) for i in range(50)]
    jobs.append(a_job("paused", at=None, args=(), kwargs={}))
    backend.store.add_jobs(jobs)
    assert backend.store.get_jobs() == jobs
    assert backend.store.get_job("j7") == jobs[7]


def test_a_duplicate_within_the_batch_conflicts_and_writes_nothing(backend: Backend) -> None:
    with pytest.raises(ConflictingIdError, match="'b'"):
        backend.store.add_jobs([a_job("a"), a_job("b"), a_job("b", name="again")])
    assert backend.store.get_jobs() == []


def test_an_existing_id_conflicts_and_writes_nothing(backend: Backend) -> None:
    backend.store.add_job(a_job("old"))
    with pytest.raises(ConflictingIdError, match="'old'"):
        backend.store.add_jobs([a_job("new"), a_job("old", name="renamed")])
    assert [job.name for job in backend.store.get_jobs()] == ["name-old"]


def test_replacing_keeps_the_schedule_of_unchanged_triggers(backend: Backend) -> None:
    backend.store.add_jobs([a_job("same"), a_job("moved"), a_job("given")])
    cron = CronTrigger(minute=5, timezone="UTC")
    backend.store.add_jobs(
        [
            a_job("same", at=LATER, name="renamed"),
            a_job("moved", at=LATER, trigger=cron),
            a_job("given", at=LATER),
            a_job("fresh", at=LATER),
            a_job("fresh", at=LATER, name="last wins"),
        ],
        replace_existing=True,
        explicit_times={"given"},
    )
    stored = {job.id: job for job in backend.store.get_jobs()}
    assert (stored["same"].name, stored["same"].next_run_time) == ("renamed", T0)
    assert (stored["moved"].trigger, stored["moved"].next_run_time) == (cron, LATER)
    assert stored["given"].next_run_time == LATER
    assert (stored["fresh"].name, stored["fresh"].next_run_time) == ("last wins", LATER)
    assert backend.store.get_next_run_time() == T0


def test_a_run_a_worker_reported_first_keeps_its_status_and_gains_published_at(
    backend: Backend,
) -> None:
    backend.store.add_job(a_job("j"))  # history records runs of existing jobs only
    run_id = make_run_id("j", T0)
    executed = JobExecuted(
        worker_id="w1", hostname="h", pid=1, emitted_at=T0, run_id=run_id, job_id="j",
        scheduled_at=T0, started_at=T0, finished_at=T0, duration_s=0.5, lateness_s=0.1,
        retval=None,
    )  # fmt: skip
    backend.history.record(executed, T0)
    before = backend.history.get_run(run_id)
    assert before is not None
    assert before.published_at is None
    published = T0 - timedelta(milliseconds=5)
    lease = backend.leader.acquire("me", T0, LEASE)
    run = SubmittedRun(run_id=run_id, job_id="j", scheduled_at=T0, published_at=published)
    backend.store.commit_batch([], [run], lease=lease, now=T0)
    later = SubmittedRun(run_id=run_id, job_id="j", scheduled_at=T0, published_at=LATER)
    backend.store.commit_batch([], [later], lease=lease, now=T0)  # a republish: no change

    record = backend.history.get_run(run_id)
    assert record is not None
    assert (record.status, record.published_at) == (RunStatus.EXECUTED, published)
