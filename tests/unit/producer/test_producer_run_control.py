"""Run-control options through the Scheduler API, and what the planner stamps on runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dueq.producer import BackgroundScheduler
from dueq.producer.planner import plan_batch
from dueq.producer.retryplan import plan_retries
from dueq.shared.errors import ConfigError
from dueq.shared.protocol import (
    ExceptionInfo,
    JobError,
    Overlap,
    RetryPolicy,
    RunRequest,
    make_run_id,
)
from dueq.shared.triggers import IntervalTrigger

T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)


@pytest.fixture
def scheduler(memory_broker_url: str) -> Iterator[BackgroundScheduler]:
    sched = BackgroundScheduler(
        database_url="memory://",
        broker_url=memory_broker_url,
        clock=lambda: T0,
        job_defaults={"retry": 2, "timeout": 30},
    )
    yield sched
    sched.shutdown()


def test_retry_takes_a_policy_a_dict_or_a_number_and_defaults_apply(
    scheduler: BackgroundScheduler,
) -> None:
    by_default = scheduler.add_job("pkg:f", "interval", minutes=1)
    assert by_default.retry == RetryPolicy(max_attempts=2)
    assert by_default.timeout == 30
    assert by_default.overlap is Overlap.SKIP
    as_dict = scheduler.add_job("pkg:f", "interval", minutes=1, retry={"backoff_s": 5})
    assert as_dict.retry == RetryPolicy(backoff_s=5)
    changed = scheduler.modify_job(as_dict.id, retry=None, timeout=None, overlap="buffer_all")
    assert (changed.retry, changed.timeout, changed.overlap) == (None, None, Overlap.BUFFER_ALL)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("retry", {"max_attempts": 0}, "invalid retry policy"),
        ("retry", "often", "retry must be"),
        ("timeout", 0, "timeout must be"),
        ("overlap", "sometimes", "overlap must be one of"),
    ],
)
def test_bad_run_control_options_are_refused_by_name(
    scheduler: BackgroundScheduler, option: str, value: Any, message: str
) -> None:
    options: dict[str, Any] = {option: value}
    with pytest.raises(ConfigError, match=message):
        scheduler.add_job("pkg:f", "interval", minutes=1, **options)


def test_runs_carry_their_jobs_run_control_and_a_coalescing_run_its_successor(
    scheduler: BackgroundScheduler,
) -> None:
    trigger = IntervalTrigger(minutes=1, start_date=T0)
    coalescing = scheduler.add_job("pkg:f", trigger, id="c", overlap="allow_all")
    every = scheduler.add_job("pkg:f", trigger, id="e", coalesce=False)
    later = T0 + timedelta(minutes=2, seconds=30)
    batch = plan_batch([coalescing, every], now=later, epoch=1, published_at=later, cap=100)

    by_job = {job_id: [r for r in batch.requests if r.job_id == job_id] for job_id in "ce"}
    (newest,) = by_job["c"]
    assert (newest.scheduled_at, newest.coalesce) == (T0 + timedelta(minutes=2), True)
    assert newest.next_scheduled_at == T0 + timedelta(minutes=3)
    assert newest.overlap is Overlap.ALLOW_ALL
    assert (newest.retry, newest.timeout) == (RetryPolicy(max_attempts=2), 30)
    assert len(by_job["e"]) == 3
    assert not any(r.coalesce or r.next_scheduled_at for r in by_job["e"])


def _error(run: RunRequest, echo: RunRequest | None) -> JobError:
    return JobError(
        worker_id="w", hostname="h", pid=1, emitted_at=T0, run_id=run.run_id,
        job_id=run.job_id, scheduled_at=run.scheduled_at, started_at=T0, finished_at=T0,
        duration_s=0, lateness_s=0, attempt=run.attempt,
        exception=ExceptionInfo(type="OSError", message="", traceback=""),
        retry_request=echo,
    )  # fmt: skip


def test_a_retry_is_the_next_attempt_after_the_backoff_and_a_forged_echo_is_ignored() -> None:
    policy = RetryPolicy(max_attempts=3, backoff_s=4, jitter=False)
    run = RunRequest(
        run_id=make_run_id("j", T0, 2), job_id="j", job_name="j", func="pkg:f",
        scheduled_at=T0, published_at=T0, epoch=1, attempt=2, retry=policy,
        misfire_grace_time=5.0, coalesce=True, next_scheduled_at=T0,
    )  # fmt: skip
    forged = run.model_copy(update={"func": "os:system", "run_id": make_run_id("x", T0)})

    (retry,) = plan_retries([_error(run, run), _error(run, forged)], T0)
    assert retry.due_at == T0 + timedelta(seconds=8)
    assert retry.request.attempt == 3
    assert retry.request.run_id == make_run_id("j", T0, 3)
    assert retry.request.scheduled_at == T0
    assert (retry.request.misfire_grace_time, retry.request.coalesce) == (None, False)
