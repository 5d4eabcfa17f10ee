"""Guarantee: a lost broker connection, on either side, loses no run and doubles none.

The scheduler reaches RabbitMQ through one fault proxy and the worker through another.
While runs are due (open-ended jobs: the scheduler is stopped when the faults are done),
first the scheduler's connections are cut, then the worker's; each time the proxy refuses
new connections for a while (its set length, and at least until the process has tried to
reconnect) and is then restored.  The recovery time is the time from the restore to the
first run published (scheduler side) or executed (worker side) again.
"""

from __future__ import annotations

import time

from tests.faults.faults_proxy import TcpProxy
from tests.faults.faults_results import Figures
from tests.faults.faults_rig import OPEN_WINDOW_S, Rig, interval_jobs, soon
from tests.support.waiting import wait_until

# Least length of each cut: a timed outage is the fault itself; it also lasts until a
# reconnect hit it.
CUT_S = 3.0
# A short stall (connections open, nothing forwarded): shorter than the heartbeat timeout,
# so the processes must ride it out without even reconnecting.
STALL_S = 1.5
JOBS, EVERY_S = 4, 0.25
# The jobs start after the processes are up (about 2 s on this machine).
LEAD_S = 4.0
# Deadline of each wait: only a stuck deployment takes this long, on any host.
STUCK_S = 60.0


def test_broker_cuts_on_both_sides_lose_nothing_and_double_nothing(
    rig: Rig, figures: Figures
) -> None:
    scheduler_proxy, scheduler_broker = rig.proxy(rig.broker_url, "scheduler-broker")
    worker_proxy, worker_broker = rig.proxy(rig.broker_url, "worker-broker")
    tap = rig.tap_runs()
    rig.add_open_jobs(interval_jobs(JOBS, every=EVERY_S, start=soon(LEAD_S), window=OPEN_WINDOW_S))
    worker = rig.worker("worker", broker_url=worker_broker)
    scheduler = rig.scheduler("scheduler", broker_url=scheduler_broker)
    rig.wait_consuming(worker)
    wait_until(lambda: len(tap.runs()) >= 2 * JOBS, "runs to be published", timeout=STUCK_S)

    forwarded_during_cut, scheduler_cut_s, restored = _cut(scheduler_proxy)
    first_after = wait_until(
        lambda: next((a for a, _ in tap.runs() if a > restored), None),
        "a publish after",
        timeout=STUCK_S,
    )
    scheduler_recovery = first_after - restored

    executed_before = len(rig.ledger.executions())
    _, worker_cut_s, restored = _cut(worker_proxy)
    first_execution = wait_until(
        lambda: next(
            (e.started_at for e in rig.ledger.executions() if e.started_at > restored), None
        ),
        "an execution after the worker's broker came back",
        timeout=STUCK_S,
    )
    worker_recovery = first_execution - restored

    worker_proxy.stall()
    time.sleep(STALL_S)  # the stall: a timed fault, nothing to notice
    worker_proxy.restore()
    last_fault_end = time.time()
    # Runs were due after the last fault: one scheduled after it executes.
    wait_until(
        lambda: any(e.scheduled_at.timestamp() > last_fault_end for e in rig.ledger.executions()),
        "a run scheduled after the last fault to execute",
        timeout=STUCK_S,
    )
    assert worker.alive
    assert scheduler.alive
    rig.stop_and_expect_committed(scheduler)
    settle = rig.wait_drained(timeout=STUCK_S)
    tally = rig.tally(tap=tap)
    print(tally.line())
    print(
        f"broker cuts {scheduler_cut_s:.1f} s and {worker_cut_s:.1f} s: scheduler recovered "
        f"{scheduler_recovery:.2f} s after the restore, worker {worker_recovery:.2f} s"
    )
    figures.values.update(tally.figures())
    figures["scheduler_cut_s"] = scheduler_cut_s
    figures["worker_cut_s"] = worker_cut_s
    figures["scheduler_recovery_s"] = scheduler_recovery
    figures["worker_recovery_s"] = worker_recovery
    figures["settle_s"] = settle
    assert forwarded_during_cut == 0, "the cut did not cut the scheduler off the broker"
    assert executed_before > 0
    assert scheduler_proxy.refused > 0, "no reconnect hit the scheduler's cut"
    assert worker_proxy.refused > 0, "no reconnect hit the worker's cut"
    tally.assert_nothing_lost_or_doubled()
    assert tally.missed == tally.max_instances == 0  # no grace limit, room for the backlog


def _cut(proxy: TcpProxy) -> tuple[int, float, float]:
    """Cut ``proxy`` for ``CUT_S`` and until a reconnect was refused; restore it.

    Returns the connections it let through meanwhile (opened, or still open at the end:
    none, if the cut holds), the outage's length, and when it was restored.
    """
    accepted, refused = proxy.accepted, proxy.refused
    began = time.time()
    proxy.cut()
    wait_until(
        lambda: time.time() >= began + CUT_S and proxy.refused > refused,
        f"a reconnect to hit the cut of {proxy.name}",
        timeout=STUCK_S,
    )
    forwarded = proxy.accepted - accepted + proxy.open_connections
    proxy.restore()
    restored = time.time()
    return forwarded, restored - began, restored
