"""The run-control parts of every backend (memory, SQLite, PostgreSQL): job options round
trip, and the pending-runs store (retries, backfill) is idempotent, ordered and fenced."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dueq.producer.backend import Backend
from dueq.producer.leader import LeaseLost
from dueq.producer.retrystore import PendingRetry
from dueq.shared.protocol import Overlap, RetryPolicy, RunRequest, make_run_id
from tests.integration.producer.producer_support import STORE_NOW
from tests.integration.producer.test_producer_store_contract import LEASE, a_job

T0 = STORE_NOW


def _pending(job_id: str, attempt: int, due_in: float) -> PendingRetry:
    request = RunRequest(
        run_id=make_run_id(job_id, T0, attempt),
        job_id=job_id,
        job_name=job_id,
        func="pkg.jobs:work",
        scheduled_at=T0,
        published_at=T0,
        epoch=0,
        attempt=attempt,
        retry=RetryPolicy(max_attempts=5),
    )
    return PendingRetry(request=request, due_at=T0 + timedelta(seconds=due_in))


def test_retry_timeout_and_overlap_of_a_job_round_trip(backend: Backend) -> None:
    policy = RetryPolicy(max_attempts=4, backoff_s=2, retry_on=["OSError"], jitter=False)
    job = a_job("j", retry=policy, timeout=1.5, overlap=Overlap.BUFFER_ONE)
    backend.store.add_job(job)
    assert backend.store.get_job("j") == job
    assert backend.store.get_due_jobs(T0, 10) == [job]


def test_a_pending_run_is_scheduled_once_ever_and_comes_due_in_order(backend: Backend) -> None:
    later, sooner = _pending("a", 2, due_in=5), _pending("b", 2, due_in=1)
    assert backend.retries.schedule([later, sooner], T0) == 2
    assert backend.retries.schedule([later], T0) == 0  # an event redelivered
    assert backend.retries.next_due() == sooner.due_at
    assert backend.retries.due(T0, 10) == []
    due = backend.retries.due(T0 + timedelta(seconds=10), 10)
    assert [p.run_id for p in due] == [sooner.run_id, later.run_id]
    assert due[0].request == sooner.request

    lease = backend.leader.acquire("me", T0, LEASE)
    assert lease is not None
    backend.retries.published([sooner.run_id, later.run_id], lease=lease, now=T0)
    assert backend.retries.due(T0 + timedelta(seconds=10), 10) == []
    assert backend.retries.schedule([later], T0) == 0  # published and gone: still once


def test_removing_published_runs_is_refused_once_the_lease_is_lost(backend: Backend) -> None:
    pending = _pending("a", 2, due_in=0)
    backend.retries.schedule([pending], T0)
    lease = backend.leader.acquire("old", T0, LEASE)
    assert lease is not None
    later = T0 + LEASE + timedelta(seconds=1)
    assert backend.leader.acquire("new", later, LEASE) is not None
    with pytest.raises(LeaseLost):
        backend.retries.published([pending.run_id], lease=lease, now=later)
    assert [p.run_id for p in backend.retries.due(later, 10)] == [pending.run_id]
