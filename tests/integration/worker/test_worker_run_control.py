"""Run control in a real worker: current_run() and timeouts in each executor, retry echo,
coalesced backlogs decided from the message alone."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dueq.shared.protocol import JobError, JobExecuted, JobMissed, RetryPolicy
from tests.integration.worker.conftest import WorkerFactory
from tests.jobs_for_tests.harness import JOBS, BrokerProbe, make_run

EXECUTORS = ("thread", "process", "asyncio")


def _retval(probe: BrokerProbe, run_id: str) -> Any:
    executed = probe.wait_event(run_id, "job_executed", timeout=30)
    assert isinstance(executed, JobExecuted)
    return executed.retval


@pytest.mark.parametrize("executor", EXECUTORS)
def test_current_run_tells_a_job_its_run_in_every_executor(
    executor: str, probe: BrokerProbe, start_worker: WorkerFactory
) -> None:
    worker = start_worker(executor=executor, concurrency=1)
    func = "async_run_context" if executor == "asyncio" else "run_context"
    run = make_run(f"{JOBS}:{func}", attempt=2)
    probe.publish(run)

    seen = _retval(probe, run.run_id)
    assert seen["job_id"] == run.job_id
    assert seen["run_id"] == run.run_id
    assert datetime.fromisoformat(seen["scheduled_at"]) == run.scheduled_at
    assert seen["attempt"] == 2
    assert seen["worker_id"] == worker.worker_id
    assert (seen["redelivered"], seen["taken_over"]) == (False, False)
    assert (seen["pid"] != os.getpid()) == (executor == "process")


def _timed_out(probe: BrokerProbe, run_id: str) -> JobError:
    error = probe.wait_event(run_id, "job_error", timeout=30)
    assert isinstance(error, JobError)
    assert error.timed_out
    assert error.exception.type == "TimeoutError"
    return error


def test_a_thread_job_past_its_timeout_is_reported_and_its_slot_freed(
    probe: BrokerProbe, start_worker: WorkerFactory, tmp_path: Path
) -> None:
    start_worker(executor="thread", concurrency=1)
    marker = tmp_path / "release"
    stuck = make_run(f"{JOBS}:wait_for_file", args=[str(marker)], timeout=0.3)
    after = make_run(f"{JOBS}:add", args=[1, 1])
    probe.publish(stuck, after)

    error = _timed_out(probe, stuck.run_id)
    assert "left running" in error.exception.message
    assert _retval(probe, after.run_id) == 2  # the only slot was freed
    marker.write_text("go")  # let the abandoned thread end before the leak check
    for thread in threading.enumerate():
        if thread.name == f"dueq-job-{stuck.run_id}":
            thread.join(10)


def test_a_process_job_past_its_timeout_has_its_process_killed(
    probe: BrokerProbe, start_worker: WorkerFactory, tmp_path: Path
) -> None:
    start_worker(executor="process", concurrency=1)
    started = tmp_path / "started"
    stuck = make_run(
        f"{JOBS}:wait_for_file", args=[str(tmp_path / "never"), str(started)], timeout=3
    )
    probe.publish(stuck)

    error = _timed_out(probe, stuck.run_id)
    assert "killed" in error.exception.message
    pid = int(started.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_an_async_job_past_its_timeout_is_cancelled(
    probe: BrokerProbe, start_worker: WorkerFactory, tmp_path: Path
) -> None:
    start_worker(executor="asyncio", concurrency=1)
    cancelled = tmp_path / "cancelled"
    stuck = make_run(
        f"{JOBS}:async_wait_for_file", args=[str(tmp_path / "never"), str(cancelled)], timeout=0.3
    )
    probe.publish(stuck)

    error = _timed_out(probe, stuck.run_id)
    assert "cancelled" in error.exception.message
    assert cancelled.read_text() == "cancelled"


def test_a_failure_the_retry_policy_covers_is_echoed_for_the_scheduler_to_retry(
    probe: BrokerProbe, start_worker: WorkerFactory
) -> None:
    start_worker(concurrency=2)
    policy = RetryPolicy(max_attempts=3, retry_on=["OSError"])
    covered = make_run(f"{JOBS}:fail_until", args=["/nonexistent-dir", 9], retry=policy)
    other = make_run(f"{JOBS}:fail", args=["no"], retry=policy)
    last = make_run(f"{JOBS}:fail_until", args=["/nonexistent-dir", 9], retry=policy, attempt=3)
    probe.publish(covered, other, last)

    # fail_until cannot write its file here, so it raises FileNotFoundError: an OSError.
    echoed = probe.wait_event(covered.run_id, "job_error")
    assert isinstance(echoed, JobError)
    assert echoed.retry_request == covered
    for run in (other, last):  # ValueError is not covered; attempt 3 of 3 is the last
        error = probe.wait_event(run.run_id, "job_error")
        assert isinstance(error, JobError)
        assert error.retry_request is None


def test_a_coalescing_run_whose_next_run_is_already_due_is_missed_not_run(
    probe: BrokerProbe, start_worker: WorkerFactory
) -> None:
    now = datetime.now(UTC)
    old = make_run(
        f"{JOBS}:add", args=[1, 1], scheduled_at=now - timedelta(seconds=3),
        coalesce=True, next_scheduled_at=now - timedelta(seconds=2),
    )  # fmt: skip
    newest = make_run(
        f"{JOBS}:add", args=[2, 2], job_id=old.job_id, scheduled_at=now - timedelta(seconds=1),
        coalesce=True, next_scheduled_at=now + timedelta(hours=1),
    )  # fmt: skip
    probe.publish(old, newest)
    start_worker(concurrency=1)

    missed = probe.wait_event(old.run_id, "job_missed")
    assert isinstance(missed, JobMissed)
    assert missed.reason == "coalesced"
    assert missed.misfire_grace_time is None
    assert _retval(probe, newest.run_id) == 4
