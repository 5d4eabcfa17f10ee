"""Guarantee: ``overlap=cancel_other`` stops the older run on another worker process.

Two worker processes share claims in PostgreSQL, each consuming a queue of its own, so the
two runs of one job (``max_instances=1``) land on different workers: the first on
``worker-a``; then the job moves to the other queue and runs again at once.  The newer
run's worker marks the older claim; ``worker-a``'s lease keeper finds the mark at its next
renewal and stops the run (asyncio: the task is cancelled; process: the run's own child is
killed), which reports ``job_error`` "cancelled by a newer run"; the newer run then gets
the slot on ``worker-b``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dueq.producer import Scheduler
from dueq.shared.broker import BrokerConnection
from dueq.shared.protocol import make_run_id
from dueq.shared.topology import Topology
from dueq.shared.triggers import IntervalTrigger
from dueq.worker.executors.base import CANCELLED_FOR_NEWER
from tests.faults.faults_results import Figures
from tests.faults.faults_rig import Rig
from tests.support.waiting import wait_until

# Short, so the keeper (a third of the lease) acts on the mark within a second.
CLAIM_LEASE_S = 3.0
# Each run would take this long: far longer than the test, so only a cancel ends it.
RUN_S = 600.0
JOBS = {"asyncio": "tests.faults.fault_jobs:record_async",
        "process": "tests.faults.fault_jobs:record_current"}  # fmt: skip


@pytest.fixture
def worker_queues(rabbitmq_url: str, fault_topology: Topology) -> Iterator[None]:
    """The two workers' queues are this test's own: deleted after it (the rig deletes
    only ``default``)."""
    yield
    with BrokerConnection(rabbitmq_url, name="faults-teardown") as conn:
        conn.delete_queues(fault_topology.run_queue(name) for name in ("qa", "qb"))


@pytest.mark.parametrize("executor", ["asyncio", "process"])
@pytest.mark.usefixtures("worker_queues")
def test_cancel_other_stops_the_older_run_on_another_worker(
    rig: Rig, figures: Figures, executor: str
) -> None:
    workers = {
        name: rig.worker(
            f"worker-{name}",
            claim_lease=CLAIM_LEASE_S,
            extra=["--executor", executor, "--queue", f"q{name}"],
        )
        for name in ("a", "b")
    }
    for name, proc in workers.items():
        proc.wait_for_log(rf"consuming q{name}", timeout=30)
    rig.scheduler("scheduler")
    client = Scheduler(
        database_url=rig.database_url, broker_url=rig.broker_url, prefix=rig.topology.prefix
    )
    try:
        first_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
        client.add_job(
            JOBS[executor], IntervalTrigger(hours=1000), id="hold", kwargs={"seconds": RUN_S},
            queue="qa", overlap="cancel_other", max_instances=1, next_run_time=first_at,
            coalesce=False,
        )  # fmt: skip
        first = wait_until(lambda: _started(rig, "hold"), "the first run to start", timeout=60)[0]
        second_at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
        client.modify_job("hold", queue="qb", next_run_time=second_at)
    finally:
        client.shutdown()
    old_id, new_id = make_run_id("hold", first_at), make_run_id("hold", second_at)

    cancelled = _wait_status(rig, old_id, "error")
    second = wait_until(
        lambda: [e for e in rig.ledger.executions() if e.run_id == new_id],
        "the newer run to start once the older one is gone",
        timeout=60,
    )[0]
    newer = _wait_status(rig, new_id, "started")
    stopped_after = cancelled["finished_at"].timestamp() - first.started_at
    print(f"{executor}: older run stopped {stopped_after:.2f} s after it started; newer run "
          f"started {second.started_at - first.started_at:.2f} s after the older one")  # fmt: skip
    figures[f"{executor}_newer_started_after_s"] = second.started_at - first.started_at
    assert first.run_id == old_id
    assert (cancelled["worker_id"], cancelled["exception_type"]) == ("worker-a", "CancelledError")
    assert cancelled["exception_message"] == CANCELLED_FOR_NEWER
    assert newer["worker_id"] == "worker-b"
    old_executions = [e for e in rig.ledger.executions() if e.run_id == old_id]
    assert [e.finished_at for e in old_executions] == [None], "the older run ran to its end"
    assert second.started_at - first.started_at < RUN_S / 10
    assert all(proc.alive for proc in workers.values())


def _started(rig: Rig, job_id: str) -> list[Any]:
    return [e for e in rig.ledger.executions() if e.job_id == job_id]


def _wait_status(rig: Rig, run_id: str, status: str) -> dict[str, Any]:
    def reported() -> dict[str, Any] | None:
        row = rig.ledger.history(run_id)
        return row if row is not None and row["status"] == status else None

    return wait_until(reported, f"run {run_id} to be {status}", timeout=60)
