"""Guarantee: a retry is never lost and never run twice, across scheduler, worker and broker
kill -9.

The job ``tests.faults.fault_jobs:flaky`` records every execution in the ledger (with the
run id of its attempt, from ``dueq.current_run()``) and fails with ``ConnectionError``
until its third attempt.  Its retry policy waits ``BACKOFF_S`` before attempt 2 and twice
that before attempt 3 (no jitter, so the waits can be checked in the history).
"""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from dueq.producer import Scheduler
from dueq.shared.protocol import RetryPolicy, make_run_id
from dueq.shared.tables import retries
from dueq.shared.triggers import DateTrigger
from tests.faults.conftest import RigOn
from tests.faults.faults_ledger import Execution
from tests.faults.faults_rabbit import RabbitNode
from tests.faults.faults_results import Figures
from tests.faults.faults_rig import Rig, soon
from tests.support.waiting import wait_until

FLAKY_JOB = "tests.faults.fault_jobs:flaky"
BACKOFF_S = 1.5
POLICY = RetryPolicy(max_attempts=3, backoff_s=BACKOFF_S, jitter=False, retry_on=["OSError"])
LEAD_S = 3.0


def _add_flaky(
    rig: Rig, job_ids: list[str], at: datetime, policy: RetryPolicy = POLICY, **kwargs: Any
) -> None:
    client = Scheduler(
        database_url=rig.database_url, broker_url=rig.broker_url, prefix=rig.topology.prefix
    )
    try:
        for job_id in job_ids:
            client.add_job(
                FLAKY_JOB, DateTrigger(run_date=at), id=job_id, retry=policy,
                kwargs={"fail_until": 3, **kwargs},
            )  # fmt: skip
    finally:
        client.shutdown()


def _attempt_ids(job_id: str, at: datetime) -> list[str]:
    return [make_run_id(job_id, at, attempt) for attempt in (1, 2, 3)]


def _finished(rig: Rig, run_id: str) -> list[Execution]:
    return [e for e in rig.ledger.executions() if e.run_id == run_id and e.finished_at]


def _wait_outcome(rig: Rig, run_id: str, status: str, timeout: float = 60) -> dict[str, Any]:
    def reported() -> dict[str, Any] | None:
        row = rig.ledger.history(run_id)
        return row if row is not None and row["status"] == status else None

    return wait_until(reported, f"run {run_id} to be {status}", timeout=timeout)


def _pending_retries(rig: Rig) -> int:
    engine = sa.create_engine(rig.ledger.url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(retries)).scalar_one())
    finally:
        engine.dispose()


def test_a_failing_job_succeeds_on_its_third_attempt_after_the_backoff(
    rig: Rig, figures: Figures
) -> None:
    at = soon(LEAD_S)
    _add_flaky(rig, ["flaky"], at)
    worker = rig.worker("worker")
    rig.wait_consuming(worker)
    rig.scheduler("scheduler")
    first, second, third = _attempt_ids("flaky", at)

    last = _wait_outcome(rig, third, "executed")
    history = [rig.ledger.history(run_id) for run_id in (first, second)]
    assert [h["status"] if h else None for h in history] == ["error", "error"]
    assert [h["attempt"] if h else None for h in (*history, last)] == [1, 2, 3]
    rows = [h for h in history if h is not None] + [last]
    waits = [
        (b["started_at"] - a["finished_at"]).total_seconds() for a, b in itertools.pairwise(rows)
    ]
    figures["backoff_wait_1_s"], figures["backoff_wait_2_s"] = waits
    print(f"waits between attempts: {waits}")
    assert waits[0] >= BACKOFF_S, "the first backoff was not kept"
    assert waits[1] >= 2 * BACKOFF_S, "the second backoff was not kept"
    assert Counter(e.run_id for e in rig.ledger.executions()) == {first: 1, second: 1, third: 1}
    assert _pending_retries(rig) == 0


def test_scheduler_kill_9_while_retries_are_pending_loses_and_doubles_none(
    rig: Rig, figures: Figures
) -> None:
    at = soon(LEAD_S)
    job_ids = [f"flaky-{n}" for n in range(4)]
    _add_flaky(rig, job_ids, at)
    workers = [rig.worker(f"worker-{n}") for n in range(2)]
    rig.wait_consuming(*workers)
    scheduler = rig.scheduler("scheduler-1")

    wait_until(lambda: _pending_retries(rig) == len(job_ids), "every retry pending", timeout=60)
    scheduler.kill()
    rig.scheduler("scheduler-2")

    for job_id in job_ids:
        _wait_outcome(rig, _attempt_ids(job_id, at)[2], "executed")
    counts = Counter(e.run_id for e in rig.ledger.executions())
    expected = {run_id: 1 for job_id in job_ids for run_id in _attempt_ids(job_id, at)}
    figures["executions"] = sum(counts.values())
    figures["attempts_expected"] = len(expected)
    assert counts == expected, "an attempt was lost or ran twice"
    assert _pending_retries(rig) == 0


def test_worker_kill_9_during_a_retried_run_hands_that_attempt_over_once(
    rig: Rig, figures: Figures
) -> None:
    at = soon(LEAD_S)
    _add_flaky(rig, ["slow"], at, slow_attempt=2, seconds=3.0)
    workers = {p.pid: p for p in (rig.worker(f"worker-{n}", claim_lease=2.0) for n in range(2))}
    rig.wait_consuming(*workers.values())
    rig.scheduler("scheduler")
    first, second, third = _attempt_ids("slow", at)

    started = wait_until(
        lambda: [e for e in rig.ledger.executions() if e.run_id == second],
        "attempt 2 to start",
        timeout=60,
    )[0]
    victim = workers[started.pid]
    wait_until(
        lambda: datetime.now(UTC).timestamp() > started.started_at + 1, "mid-run", timeout=10
    )
    victim.kill()

    _wait_outcome(rig, third, "executed")
    executions = rig.ledger.executions()
    counts = Counter(e.run_id for e in executions)
    redone = [e for e in executions if e.run_id == second and e.finished_at is not None]
    figures["attempt_2_executions"] = counts[second]
    second_row = rig.ledger.history(second)
    assert counts[first] == 1
    assert counts[third] == 1
    assert counts[second] == 2, "attempt 2 must run again after its worker died, once"
    assert [e.pid for e in redone] != [victim.pid]
    assert len(redone) == 1
    assert second_row is not None
    assert second_row["status"] == "error"
    assert second_row["redelivered"]
    assert _finished(rig, make_run_id("slow", at, 4)) == []
    assert redone[0].started_at - started.started_at < timedelta(seconds=30).total_seconds()


def test_rabbitmq_kill_9_while_retries_are_pending_loses_and_doubles_none(
    rig_on: RigOn, rabbit_node: RabbitNode, figures: Figures
) -> None:
    # Backoffs long enough that the node is killed with every attempt 2 still pending, and
    # short enough that some fall due while it is down: the loop must keep them until the
    # broker confirms them.
    backoff_s = 3.0
    policy = RetryPolicy(max_attempts=3, backoff_s=backoff_s, jitter=False, retry_on=["OSError"])
    rig = rig_on(rabbit_node.url)
    at = soon(LEAD_S)
    job_ids = [f"flaky-{n}" for n in range(4)]
    _add_flaky(rig, job_ids, at, policy)
    workers = [rig.worker(f"worker-{n}") for n in range(2)]
    rig.wait_consuming(*workers)
    rig.scheduler("scheduler")

    wait_until(lambda: _pending_retries(rig) == len(job_ids), "every retry pending", timeout=60)
    killed_at = rabbit_node.kill()
    pending_at_kill = _pending_retries(rig)
    back_at = rabbit_node.start()

    lasts = [_wait_outcome(rig, _attempt_ids(job_id, at)[2], "executed", 120) for job_id in job_ids]
    counts = Counter(e.run_id for e in rig.ledger.executions())
    expected = {run_id: 1 for job_id in job_ids for run_id in _attempt_ids(job_id, at)}
    waits = [_backoff_waits(rig, job_id, at) for job_id in job_ids]
    print(
        f"node down {back_at - killed_at:.1f} s with {pending_at_kill} retries pending; "
        f"waits between attempts per job: {waits}"
    )
    figures["retries_pending_at_kill"] = pending_at_kill
    figures["node_down_s"] = back_at - killed_at
    figures["executions"] = sum(counts.values())
    figures["attempts_expected"] = len(expected)
    assert pending_at_kill >= 2, "the node must go down with several retries pending"
    assert counts == expected, "an attempt was lost or ran twice"
    assert all(row["attempt"] == 3 for row in lasts)
    for first_wait, second_wait in waits:
        assert first_wait >= backoff_s, "the first backoff was not kept"
        assert second_wait >= 2 * backoff_s, "the second backoff was not kept"
    assert all(w.alive for w in workers)
    assert _pending_retries(rig) == 0


def _backoff_waits(rig: Rig, job_id: str, at: datetime) -> list[float]:
    """Seconds from each attempt's end to the next one's start, from the run history."""
    rows = [rig.ledger.history(run_id) for run_id in _attempt_ids(job_id, at)]
    assert all(row is not None for row in rows), rows
    return [
        (b["started_at"] - a["finished_at"]).total_seconds()
        for a, b in itertools.pairwise(row for row in rows if row is not None)
    ]
