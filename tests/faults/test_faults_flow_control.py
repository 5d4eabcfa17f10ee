"""Guarantee: a broker that blocks publishers (memory or disk alarm) loses and wedges nothing.

On a private node, while runs are due four times a second, first the memory watermark is
dropped below what the node uses (memory alarm), then the free-disk limit is raised above
what the disk has (disk alarm); each alarm lasts a few seconds and is then lifted.  RabbitMQ
answers an alarm by sending ``connection.blocked`` and no longer reading from publishing
connections.  The scheduler must say it is blocked, stay up, publish again once unblocked
(its batch waits for confirms meanwhile: nothing is committed unconfirmed), and every run
must execute exactly once.  Resume: from the alarm lifted to the first run executed.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.faults.conftest import RigOn
from tests.faults.faults_procs import Proc
from tests.faults.faults_rabbit import RabbitNode
from tests.faults.faults_results import Figures
from tests.faults.faults_rig import OPEN_WINDOW_S, Rig, interval_jobs, soon
from tests.support.waiting import wait_until

JOBS, EVERY_S = 3, 0.25
LEAD_S = 3.0
# How long each alarm holds: a timed fault, the broker blocking us meanwhile.
ALARM_S = 2.5
BLOCKED_LOG = r"blocks publishing"
UNBLOCKED_LOG = r"unblocked publishing"
# The node's normal settings, restored after each alarm (RabbitMQ's defaults).
NORMAL_WATERMARK = "0.4"
NORMAL_DISK_LIMIT = "50MB"


def test_memory_and_disk_alarms_block_the_scheduler_without_loss_or_wedging(
    rig_on: RigOn, rabbit_node: RabbitNode, figures: Figures
) -> None:
    rig = rig_on(rabbit_node.url)
    rig.add_open_jobs(interval_jobs(JOBS, every=EVERY_S, start=soon(LEAD_S), window=OPEN_WINDOW_S))
    worker = rig.worker("worker")
    scheduler = rig.scheduler("scheduler")
    rig.wait_consuming(worker)
    wait_until(lambda: len(rig.ledger.executions()) >= 2 * JOBS, "steady runs", timeout=30)

    memory_resume = _alarm(
        rig, scheduler, 1,
        raise_it=lambda: rabbit_node.ctl("set_vm_memory_high_watermark", "0.000001"),
        lift_it=lambda: rabbit_node.ctl("set_vm_memory_high_watermark", NORMAL_WATERMARK),
    )  # fmt: skip
    disk_resume = _alarm(
        rig, scheduler, 2,
        raise_it=lambda: rabbit_node.ctl("set_disk_free_limit", "1000000GB"),
        lift_it=lambda: rabbit_node.ctl("set_disk_free_limit", NORMAL_DISK_LIMIT),
    )  # fmt: skip
    unblocked_output = scheduler.output()
    rig.stop_and_expect_committed(scheduler)
    settle = rig.wait_drained(timeout=60)
    tally = rig.tally()
    print(tally.line())
    print(
        f"memory alarm {ALARM_S} s: runs executed again {memory_resume:.2f} s after it lifted; "
        f"disk alarm {ALARM_S} s: {disk_resume:.2f} s"
    )
    figures.values.update(tally.figures())
    figures["memory_alarm_resume_s"] = memory_resume
    figures["disk_alarm_resume_s"] = disk_resume
    figures["settle_s"] = settle
    assert worker.alive
    assert "unexpected error" not in unblocked_output
    tally.assert_nothing_lost_or_doubled()


def _alarm(
    rig: Rig,
    scheduler: Proc,
    number: int,
    *,
    raise_it: Callable[[], object],
    lift_it: Callable[[], object],
) -> float:
    """Hold an alarm for ALARM_S; seconds from lifting it to the next run executed."""
    try:
        raise_it()
        scheduler.wait_for_log(BLOCKED_LOG, count=number, timeout=20)
        blocked_at = time.time()
        time.sleep(ALARM_S)  # the alarm itself
        executed_while_blocked = [
            e for e in rig.ledger.executions() if blocked_at + 1 < e.started_at
        ]
    finally:
        lift_it()
    lifted = time.time()
    scheduler.wait_for_log(UNBLOCKED_LOG, count=number, timeout=20)
    first = wait_until(
        lambda: next((e.started_at for e in rig.ledger.executions() if e.started_at > lifted), 0),
        "a run executed after the alarm lifted",
        timeout=30,
    )
    assert not executed_while_blocked, "the alarm did not stop the runs (no block happened)"
    return float(first - lifted)
