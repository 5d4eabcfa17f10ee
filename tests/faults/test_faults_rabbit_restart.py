"""Guarantee: kill -9 of the RabbitMQ node itself, and its restart, lose and double no run.

A private single node (quorum run queue, on disk) serves one scheduler and one worker.
It is killed (kill -9 of the Erlang VM) and restarted twice: first during steady dispatch
(three jobs, four runs a second each), then in the middle of a burst (150 runs due at the
same instant, published 25 per batch).  Runs the broker had confirmed must come back from
disk after the restart; runs whose confirms were lost with the node must be published
again by the scheduler with the same ids (it commits only confirmed batches), and the
workers must drop any copy.  Recovery: from the node accepting connections again to the
first run executed.
"""

from __future__ import annotations

from tests.faults.conftest import RigOn
from tests.faults.faults_rabbit import RabbitNode
from tests.faults.faults_results import Figures
from tests.faults.faults_rig import OPEN_WINDOW_S, Rig, interval_jobs, soon
from tests.support.waiting import wait_until

JOBS, EVERY_S = 3, 0.25
LEAD_S = 3.0
BURST_JOBS = 150
# Runs per publish/commit round: the burst takes several, so the kill lands among them.
BATCH_SIZE = "25"
RECONNECT_LOG = r"scheduler lost the broker"


def test_rabbitmq_kill_9_and_restart_during_dispatch_and_a_burst_lose_and_double_nothing(
    rig_on: RigOn, rabbit_node: RabbitNode, figures: Figures
) -> None:
    rig = rig_on(rabbit_node.url)
    rig.add_open_jobs(interval_jobs(JOBS, every=EVERY_S, start=soon(LEAD_S), window=OPEN_WINDOW_S))
    worker = rig.worker("worker")
    scheduler = rig.scheduler("scheduler", extra=["--batch-size", BATCH_SIZE])
    rig.wait_consuming(worker)
    wait_until(lambda: len(rig.ledger.executions()) >= 2 * JOBS, "steady runs", timeout=30)

    steady_recovery = _crash_and_restart(rig, rabbit_node, scheduler.name)
    scheduler.wait_for_log(RECONNECT_LOG, timeout=30)

    burst_at = soon(1.5)
    rig.add_open_jobs(
        interval_jobs(BURST_JOBS, every=OPEN_WINDOW_S, start=burst_at, window=1, prefix="burst")
    )
    wait_until(
        lambda: any(e.job_id.startswith("burst") for e in rig.ledger.executions()),
        "the burst to begin executing",
        timeout=30,
    )
    burst_done_at_kill = sum(e.job_id.startswith("burst") for e in rig.ledger.executions())
    burst_recovery = _crash_and_restart(rig, rabbit_node, scheduler.name)

    reconnects = scheduler.output().count("scheduler lost the broker")
    rig.stop_and_expect_committed(scheduler)
    settle = rig.wait_drained(timeout=60)
    tally = rig.tally()
    print(tally.line())
    print(
        f"node kill -9 during steady dispatch: first run executed {steady_recovery:.2f} s after "
        f"the node was back; during the burst ({burst_done_at_kill} of {BURST_JOBS} executed "
        f"at the kill): {burst_recovery:.2f} s"
    )
    figures.values.update(tally.figures())
    figures["node_kills"] = 2
    figures["burst_runs_executed_before_the_kill"] = burst_done_at_kill
    figures["recovery_after_restart_steady_s"] = steady_recovery
    figures["recovery_after_restart_burst_s"] = burst_recovery
    figures["settle_s"] = settle
    assert burst_done_at_kill < BURST_JOBS, "the kill must land in the middle of the burst"
    assert worker.alive
    assert reconnects >= 2
    tally.assert_nothing_lost_or_doubled()


def _crash_and_restart(rig: Rig, node: RabbitNode, who: str) -> float:
    """kill -9 the node, start it again; seconds from its return to the next execution."""
    node.kill()
    back = node.start()
    first = wait_until(
        lambda: next((e.started_at for e in rig.ledger.executions() if e.started_at > back), None),
        f"a run executed after the node came back ({who} reconnecting)",
        timeout=45,
    )
    return float(first - back)
