"""Every execution of a run is a history row: one contract for memory, SQLite, PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dueq.producer.backend import Backend
from dueq.producer.history import RunStatus
from dueq.producer.store import SubmittedRun
from dueq.shared.protocol import JobExecuted, JobMissed, JobStarted, make_run_id
from tests.integration.producer.test_producer_store_contract import T0, a_job

RUN_ID = make_run_id("j", T0)
LEASE = timedelta(seconds=10)


def _about(worker_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "worker_id": worker_id, "hostname": "h", "pid": 1, "emitted_at": T0,
        "run_id": RUN_ID, "job_id": "j", "scheduled_at": T0, **fields,
    }  # fmt: skip


def started(worker_id: str, at_s: float, **fields: Any) -> JobStarted:
    at = T0 + timedelta(seconds=at_s)
    return JobStarted(**_about(worker_id, **fields), started_at=at, lateness_s=at_s)


def executed(worker_id: str, at_s: float, retval: str, **fields: Any) -> JobExecuted:
    """The outcome of the start at ``at_s``: stamped by the job runner 1 ms after it."""
    at = T0 + timedelta(seconds=at_s, milliseconds=1)
    return JobExecuted(
        **_about(worker_id, **fields),
        started_at=at, finished_at=at + timedelta(seconds=1), duration_s=1.0, lateness_s=at_s,
        retval=retval,
    )  # fmt: skip


def rows(backend: Backend) -> list[tuple[int, RunStatus, str | None, Any]]:
    return [
        (r.execution, r.status, r.worker_id, r.retval)
        for r in backend.history.get_executions(RUN_ID)
    ]


def test_a_run_taken_over_is_two_rows_the_first_lost_whatever_the_batches(
    backend: Backend,
) -> None:
    backend.store.add_job(a_job("j"))
    backend.history.record_many([started("a", 1)], T0)
    backend.history.record_many(
        [started("b", 40, taken_over=True), executed("b", 40, "done", taken_over=True)], T0
    )
    assert rows(backend) == [
        (1, RunStatus.LOST, "a", None),
        (2, RunStatus.EXECUTED, "b", "done"),
    ]
    [lost] = backend.history.get_runs(statuses=[RunStatus.LOST])
    assert lost.exception_message is not None
    assert "worker a" in lost.exception_message
    assert "worker b" in lost.exception_message
    run = backend.history.get_run(RUN_ID)
    assert run is not None
    assert run.execution == 2  # get_run is the newest execution


def test_repeats_and_an_outcome_recorded_before_its_start_make_one_execution(
    backend: Backend,
) -> None:
    backend.store.add_job(a_job("j"))
    backend.history.record_many([executed("a", 1, "x")], T0)
    backend.history.record_many([started("a", 1), started("a", 1)], T0)
    backend.history.record_many([executed("a", 1, "x"), started("a", 1)], T0)
    assert rows(backend) == [(1, RunStatus.EXECUTED, "a", "x")]
    assert backend.history.conflicts == 0


def test_a_worker_cut_off_rather_than_dead_still_records_its_outcome(backend: Backend) -> None:
    backend.store.add_job(a_job("j"))
    backend.history.record_many([started("a", 1), started("b", 40)], T0)
    backend.history.record_many([executed("b", 40, "second"), executed("a", 1, "first")], T0)
    assert rows(backend) == [
        (1, RunStatus.EXECUTED, "a", "first"),
        (2, RunStatus.EXECUTED, "b", "second"),
    ]
    assert backend.history.conflicts == 0


def test_the_same_worker_starting_the_run_again_after_a_restart_opens_an_execution(
    backend: Backend,
) -> None:
    backend.store.add_job(a_job("j"))
    backend.history.record_many([started("w-1", 1)], T0)
    backend.history.record_many([started("w-1", 35, redelivered=True)], T0)
    backend.history.record_many([executed("w-1", 35, "again", redelivered=True)], T0)
    assert rows(backend) == [
        (1, RunStatus.LOST, "w-1", None),
        (2, RunStatus.EXECUTED, "w-1", "again"),
    ]


def test_a_published_run_taken_over_keeps_its_publish_time_on_each_execution(
    backend: Backend,
) -> None:
    backend.store.add_job(a_job("j"))
    lease = backend.leader.acquire("me", T0, LEASE)
    submitted = SubmittedRun(run_id=RUN_ID, job_id="j", scheduled_at=T0, published_at=T0)
    backend.store.commit_batch([], [submitted], lease=lease, now=T0)
    backend.history.record_many([started("a", 1)], T0)
    backend.history.record_many([started("b", 40)], T0)
    first, second = backend.history.get_executions(RUN_ID)
    assert (first.status, second.status) == (RunStatus.LOST, RunStatus.STARTED)
    assert first.published_at == second.published_at == T0


def test_a_redelivery_judged_missed_is_a_row_beside_the_lost_execution(
    backend: Backend,
) -> None:
    backend.store.add_job(a_job("j"))
    backend.history.record_many([started("a", 1)], T0)
    missed = JobMissed(**_about("b", redelivered=True), lateness_s=99.0, misfire_grace_time=5.0)
    backend.history.record_many([missed, missed], T0)
    assert rows(backend) == [(1, RunStatus.LOST, "a", None), (2, RunStatus.MISSED, "b", None)]


def test_an_outcome_from_a_worker_that_never_ran_a_finished_run_is_a_conflict(
    backend: Backend,
) -> None:
    backend.store.add_job(a_job("j"))
    backend.history.record_many([started("a", 1), executed("a", 1, "real")], T0)
    backend.history.record_many([executed("evil", 1, "forged")], T0)
    assert rows(backend) == [(1, RunStatus.EXECUTED, "a", "real")]
    assert backend.history.conflicts == 1
