"""Guarantee: a lost broker connection, on either side, loses no run and doubles none.

The scheduler reaches RabbitMQ through one fault proxy and the worker through another.
While runs are due, first the scheduler's connections are cut, then the worker's; each
time the proxy refuses new connections for a while and is then restored.  The recovery
time is the time from the restore to the first run published (scheduler side) or
executed (worker side) again.
"""

from __future__ import annotations

import time

from tests.faults.faults_results import Figures
from tests.faults.faults_rig import Rig, interval_jobs, soon
from tests.support.waiting import wait_until

# How long each cut lasts: a timed outage is the fault itself, not a wait for an event.
CUT_S = 3.0
# A short stall (connections open, nothing forwarded): shorter than the heartbeat timeout,
# so the processes must ride it out without even reconnecting.
STALL_S = 1.5
JOBS, EVERY_S, WINDOW_S = 4, 0.25, 12.0
# The jobs start after the processes are up (about 2 s on this machine).
LEAD_S = 4.0


def test_broker_cuts_on_both_sides_lose_nothing_and_double_nothing(
    rig: Rig, figures: Figures
) -> None:
    scheduler_proxy, scheduler_broker = rig.proxy(rig.broker_url, "scheduler-broker")
    worker_proxy, worker_broker = rig.proxy(rig.broker_url, "worker-broker")
    tap = rig.tap_runs()
    start = soon(LEAD_S)
    rig.add_jobs(interval_jobs(JOBS, every=EVERY_S, start=start, window=WINDOW_S))
    window_end = start.timestamp() + WINDOW_S
    worker = rig.worker("worker", broker_url=worker_broker)
    scheduler = rig.scheduler("scheduler", broker_url=scheduler_broker)
    rig.wait_consuming(worker)
    wait_until(lambda: len(tap.runs()) >= 2 * JOBS, "runs to be published", timeout=15)

    scheduler_proxy.cut()
    cut_at = time.time()
    time.sleep(CUT_S)  # the outage
    scheduler_proxy.restore()
    restored = time.time()
    published_during_cut = [a for a, _ in tap.runs() if cut_at + 0.5 < a < restored]
    first_after = wait_until(
        lambda: next((a for a, _ in tap.runs() if a > restored), None),
        "a publish after",
        timeout=30,
    )
    scheduler_recovery = first_after - restored

    executed_before = len(rig.ledger.executions())
    worker_proxy.cut()
    cut_at = time.time()
    time.sleep(CUT_S)  # the outage
    worker_proxy.restore()
    restored = time.time()
    first_execution = wait_until(
        lambda: next(
            (e.started_at for e in rig.ledger.executions() if e.started_at > restored), None
        ),
        "an execution after the worker's broker came back",
        timeout=30,
    )
    worker_recovery = first_execution - restored

    worker_proxy.stall()
    time.sleep(STALL_S)  # the stall
    worker_proxy.restore()
    last_fault_end = time.time()

    settle = rig.wait_settled(timeout=60)
    tally = rig.tally(tap=tap)
    print(tally.line())
    print(
        f"broker cut {CUT_S:.0f} s: scheduler recovered {scheduler_recovery:.2f} s after the "
        f"restore, worker {worker_recovery:.2f} s"
    )
    figures.values.update(tally.figures())
    figures["scheduler_recovery_s"] = scheduler_recovery
    figures["worker_recovery_s"] = worker_recovery
    figures["settle_s"] = settle
    assert last_fault_end + 1 < window_end, "the faults must happen while runs are due"
    assert not published_during_cut, "the cut did not cut the scheduler off the broker"
    assert executed_before > 0
    assert scheduler_proxy.refused + worker_proxy.refused > 0, "no reconnect hit the cut"
    assert worker.alive
    assert scheduler.alive
    tally.assert_nothing_lost_or_doubled()
    assert tally.missed == tally.max_instances == 0  # no grace limit, room for the backlog
