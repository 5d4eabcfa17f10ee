"""thread, process and asyncio executors each run real jobs; a run delivered twice runs once."""

from __future__ import annotations

import os
from typing import Any

from dueq.shared.protocol import JobExecuted
from tests.integration.worker.conftest import WorkerFactory
from tests.jobs_for_tests.harness import JOBS, BrokerProbe, make_run


def _retval(probe: BrokerProbe, run_id: str) -> Any:
    executed = probe.wait_event(run_id, "job_executed", timeout=30)
    assert isinstance(executed, JobExecuted)
    return executed.retval


def test_the_thread_executor_runs_jobs_in_the_worker_slot_threads(
    probe: BrokerProbe, start_worker: WorkerFactory
) -> None:
    start_worker(executor="thread")
    run = make_run(f"{JOBS}:where")
    probe.publish(run)
    retval = _retval(probe, run.run_id)
    assert retval["pid"] == os.getpid()
    assert retval["thread"].startswith("dueq-slot-")


def test_the_process_executor_runs_jobs_in_a_child_process(
    probe: BrokerProbe, start_worker: WorkerFactory
) -> None:
    start_worker(executor="process", concurrency=1)
    where, added = make_run(f"{JOBS}:where"), make_run("worker-tests.noop")
    failing = make_run(f"{JOBS}:fail", args=["in a child"])
    probe.publish(where, added, failing)
    assert _retval(probe, where.run_id)["pid"] != os.getpid()
    assert _retval(probe, added.run_id) is None
    error = probe.wait_event(failing.run_id, "job_error")
    assert error.exception.message == "in a child"  # type: ignore[union-attr]


def test_the_asyncio_executor_awaits_async_jobs_and_still_runs_sync_ones(
    probe: BrokerProbe, start_worker: WorkerFactory
) -> None:
    start_worker(executor="asyncio", concurrency=4)
    coroutine, plain = (
        make_run(f"{JOBS}:async_add", args=[4, 5]),
        make_run(f"{JOBS}:add", args=[1, 1]),
    )
    probe.publish(coroutine, plain)
    assert _retval(probe, coroutine.run_id) == {"sum": 9, "loop": True}
    assert _retval(probe, plain.run_id) == 2


def test_the_same_run_delivered_twice_executes_once(
    probe: BrokerProbe, start_worker: WorkerFactory
) -> None:
    start_worker(concurrency=1)
    run = make_run(f"{JOBS}:add", args=[1, 2], max_instances=5)
    after = make_run(f"{JOBS}:add", args=[3, 4])
    probe.publish(run)
    probe.wait_event(run.run_id, "job_executed")
    probe.publish(run, after)  # a scheduler republishing after a crash sends the same run_id

    probe.wait_event(after.run_id, "job_executed")
    assert len(probe.starts(run.run_id)) == 1
    assert len(probe.of_run(run.run_id, "job_executed")) == 1
    assert probe.depth() == 0
