"""What every consumer must do with the run-control fields (docs/run-control.md).

attempt (echoed), coalesce + next_scheduled_at (a backlog runs once), retry (the run is
echoed in job_error.retry_request while attempts are left), timeout (reported timed out
at the deadline), overlap allow_all (max_instances does not apply), and the waiting or
cancelling policies: honoured (never two instances at once), or skipped and said so
(``job_max_instances.overlap_fallback``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from dueq.shared.protocol import (
    JobError,
    JobExecuted,
    JobMaxInstances,
    JobMissed,
    JobStarted,
    Overlap,
    RetryPolicy,
)
from tests.conformance.conformance_kit import Harness, Received

pytestmark = pytest.mark.integration


def test_a_retried_attempt_is_echoed_in_every_event_about_it(harness: Harness) -> None:
    bus, consumer = harness.bus, harness.consumer
    run = bus.run_request("conformance.echo", attempt=2)
    bus.publish_runs(run)

    executed = bus.wait_event("job_executed", run_id=run.run_id, consumer=consumer).event
    started = bus.wait_event("job_started", run_id=run.run_id).event
    assert (started.attempt, executed.attempt) == (2, 2)  # type: ignore[union-attr]


def test_a_coalescing_run_whose_next_run_is_due_is_missed_and_the_newest_runs(
    harness: Harness,
) -> None:
    bus, consumer = harness.bus, harness.consumer
    job_id, now = f"coalesce-{uuid.uuid4().hex[:8]}", datetime.now(UTC)
    old = bus.run_request(
        "conformance.echo", job_id=job_id, scheduled_at=now - timedelta(seconds=2),
        coalesce=True, next_scheduled_at=now - timedelta(seconds=1),
    )  # fmt: skip
    newest = bus.run_request(
        "conformance.echo", job_id=job_id, scheduled_at=now - timedelta(seconds=1),
        coalesce=True, next_scheduled_at=now + timedelta(hours=1),
    )  # fmt: skip
    bus.publish_runs(old, newest)

    missed = bus.wait_event("job_missed", run_id=old.run_id, consumer=consumer).event
    bus.wait_event("job_executed", run_id=newest.run_id, consumer=consumer)
    assert isinstance(missed, JobMissed)
    assert missed.reason == "coalesced"
    assert bus.about(old.run_id) == ["job_missed"]


def test_a_failure_with_attempts_left_echoes_the_run_for_the_scheduler_to_retry(
    harness: Harness,
) -> None:
    bus, consumer = harness.bus, harness.consumer
    policy = RetryPolicy(max_attempts=2)
    retried = bus.run_request("conformance.fail", retry=policy)
    last = bus.run_request("conformance.fail", retry=policy, attempt=2)
    bus.publish_runs(retried, last)

    first = bus.wait_event("job_error", run_id=retried.run_id, consumer=consumer).event
    final = bus.wait_event("job_error", run_id=last.run_id, consumer=consumer).event
    assert isinstance(first, JobError)
    assert isinstance(final, JobError)
    assert first.retry_request == retried
    assert final.retry_request is None


def test_a_run_past_its_timeout_is_reported_timed_out(harness: Harness) -> None:
    bus, consumer = harness.bus, harness.consumer
    run = bus.run_request("conformance.sleep", kwargs={"seconds": 3.0}, timeout=0.5)
    bus.publish_runs(run)

    error = bus.wait_event("job_error", run_id=run.run_id, consumer=consumer).event
    assert isinstance(error, JobError)
    assert error.timed_out
    assert error.exception.type == "TimeoutError"
    assert error.duration_s < 3.0


def test_allow_all_starts_a_run_whatever_max_instances_says(harness: Harness) -> None:
    bus, consumer = harness.bus, harness.consumer
    job_id, now = f"allow-{uuid.uuid4().hex[:8]}", datetime.now(UTC)
    runs = [
        bus.run_request(
            "conformance.sleep",
            job_id=job_id,
            scheduled_at=now + timedelta(milliseconds=i),
            kwargs={"seconds": 0.5},
            max_instances=1,
            overlap=Overlap.ALLOW_ALL,
        )
        for i in range(2)
    ]
    bus.publish_runs(*runs)

    for run in runs:
        executed = bus.wait_event("job_executed", run_id=run.run_id, consumer=consumer).event
        assert isinstance(executed, JobExecuted)


_FINAL = ("job_executed", "job_error", "job_max_instances")


@pytest.mark.parametrize("overlap", [Overlap.BUFFER_ONE, Overlap.BUFFER_ALL, Overlap.CANCEL_OTHER])
def test_a_waiting_policy_is_honoured_or_skipped_and_said_so(
    harness: Harness, overlap: Overlap
) -> None:
    bus, consumer = harness.bus, harness.consumer
    job_id, now = f"overlap-{uuid.uuid4().hex[:8]}", datetime.now(UTC)
    older, newer = (
        bus.run_request(
            "conformance.sleep",
            job_id=job_id,
            scheduled_at=now + timedelta(milliseconds=i),
            kwargs={"seconds": 1.0},
            max_instances=1,
            overlap=overlap,
        )
        for i in range(2)
    )
    bus.publish_runs(older)
    bus.wait_event("job_started", run_id=older.run_id, consumer=consumer)
    bus.publish_runs(newer)

    old_end, new_end = (_outcome(harness, run.run_id) for run in (older, newer))
    if isinstance(new_end.event, JobMaxInstances):  # the consumer skips: it must say so
        assert new_end.event.overlap_fallback is overlap
        return
    # Honoured: the newer run started only once the older one had ended (or was cancelled).
    new_start = bus.wait_event("job_started", run_id=newer.run_id).event
    assert isinstance(new_start, JobStarted)
    assert isinstance(old_end.event, JobExecuted | JobError)
    assert new_start.started_at >= old_end.event.finished_at
    assert isinstance(new_end.event, JobExecuted)


def _outcome(harness: Harness, run_id: str) -> Received:
    def final() -> Received | None:
        return next(
            (r for r in harness.bus.events if r.run_id == run_id and r.name in _FINAL), None
        )

    return harness.bus.wait_for(final, f"the outcome of run {run_id}", consumer=harness.consumer)
