"""Guarantee: a lost database connection, for the scheduler or the workers, loses nothing.

The scheduler reaches PostgreSQL through one fault proxy, the two workers (whose claims
live there) through another; the job's own ledger connects directly.  While runs are
due: the scheduler's database is cut, then stalled; then the workers' database is cut
for less than their claim lease.  Each time the processes must retry, recover and go on;
the recovery time is from the restore to the first run published (scheduler) or
executed (workers) again.
"""

from __future__ import annotations

import time
from dataclasses import replace

from tests.faults.faults_ledger import Execution
from tests.faults.faults_proxy import TcpProxy
from tests.faults.faults_results import Figures
from tests.faults.faults_rig import CLAIM_LEASE_S, Rig, interval_jobs, soon
from tests.faults.faults_tap import RabbitTap
from tests.support.waiting import wait_until

# Outage lengths: timed faults, not waits for an event.
SCHEDULER_CUT_S = 3.0
SCHEDULER_STALL_S = 1.5
# Shorter than the claim lease, so claims of runs in progress survive the outage.
WORKER_CUT_S = 2.0
JOBS, EVERY_S, WINDOW_S = 4, 0.25, 13.0
LEAD_S = 4.0


def test_database_cuts_for_scheduler_and_workers_lose_nothing(rig: Rig, figures: Figures) -> None:
    scheduler_proxy, scheduler_db = rig.proxy(rig.database_url, "scheduler-db")
    worker_proxy, worker_db = rig.proxy(rig.database_url, "worker-db")
    tap = rig.tap_runs()
    start = soon(LEAD_S)
    rig.add_jobs(interval_jobs(JOBS, every=EVERY_S, start=start, window=WINDOW_S))
    window_end = start.timestamp() + WINDOW_S
    workers = [rig.worker(f"worker-{n}", database_url=worker_db) for n in range(2)]
    scheduler = rig.scheduler("scheduler", database_url=scheduler_db)
    rig.wait_consuming(*workers)
    wait_until(lambda: len(tap.runs()) >= 2 * JOBS, "runs to be published", timeout=15)

    scheduler_proxy.cut()
    time.sleep(SCHEDULER_CUT_S)  # the outage
    restored = _restore(scheduler_proxy)
    scheduler_cut_recovery = _first_publish_after(tap, restored)

    scheduler_proxy.stall()
    time.sleep(SCHEDULER_STALL_S)  # the stall
    restored = _restore(scheduler_proxy)
    scheduler_stall_recovery = _first_publish_after(tap, restored)

    worker_proxy.cut()
    time.sleep(WORKER_CUT_S)  # the outage
    restored = _restore(worker_proxy)
    worker_recovery = (
        wait_until(
            lambda: next(
                (e.started_at for e in rig.ledger.executions() if e.started_at > restored), None
            ),
            "an execution after the workers' database came back",
            timeout=30,
        )
        - restored
    )
    last_fault_end = restored

    rig.wait_settled(timeout=60)
    tally = rig.tally(tap=tap)
    retries = sum(p.output().count("temporary database error") for p in (scheduler, *workers))
    print(tally.line())
    print(
        f"database cut {SCHEDULER_CUT_S:.0f} s: scheduler published again "
        f"{scheduler_cut_recovery:.2f} s after the restore; stall {SCHEDULER_STALL_S} s: "
        f"{scheduler_stall_recovery:.2f} s; workers' database cut {WORKER_CUT_S:.0f} s: "
        f"executing again after {worker_recovery:.2f} s; {retries} retries logged"
    )
    figures.values.update(tally.figures())
    figures["scheduler_db_cut_recovery_s"] = scheduler_cut_recovery
    figures["scheduler_db_stall_recovery_s"] = scheduler_stall_recovery
    figures["worker_db_cut_recovery_s"] = worker_recovery
    figures["retries_logged"] = retries
    assert WORKER_CUT_S < CLAIM_LEASE_S
    assert last_fault_end + 1 < window_end, "the faults must happen while runs are due"
    assert scheduler_proxy.refused > 0, "no reconnect hit the scheduler's cut"
    assert worker_proxy.refused > 0, "no reconnect hit the workers' cut"
    assert retries > 0, "the outages were not noticed"
    assert scheduler.alive
    assert all(w.alive for w in workers)
    tally.assert_nothing_lost_or_doubled()
    assert tally.missed == tally.max_instances == 0  # no grace limit, room for the backlog


def _restore(proxy: TcpProxy) -> float:
    proxy.restore()
    return time.time()


def _first_publish_after(tap: RabbitTap, moment: float) -> float:
    first = wait_until(
        lambda: next((a for a, _ in tap.runs() if a > moment), None),
        "a run published after the scheduler's database came back",
        timeout=30,
    )
    return first - moment


# Longer than the claim lease (the time a worker retries recording a finished run).
LONG_WORKER_CUT_S = 4.0
SHORT_LEASE_S = 2.0


def test_a_workers_database_outage_longer_than_the_claim_lease_reruns_no_finished_run(
    rig: Rig, figures: Figures
) -> None:
    proxy, worker_db = rig.proxy(rig.database_url, "worker-db")
    start = soon(LEAD_S)
    specs = [
        replace(spec, seconds=0.3)  # short runs, so some finish while the database is gone
        for spec in interval_jobs(2, every=0.5, start=start, window=8.0)
    ]
    rig.add_jobs(specs)
    workers = [
        rig.worker(f"worker-{n}", database_url=worker_db, claim_lease=SHORT_LEASE_S)
        for n in range(2)
    ]
    rig.scheduler("scheduler")
    rig.wait_consuming(*workers)
    wait_until(
        lambda: (
            len(rig.ledger.executions()) >= 4
            and any(e.finished_at is None for e in rig.ledger.executions())
        ),
        "a run in progress (it will finish during the outage)",
        timeout=20,
    )
    proxy.cut()
    time.sleep(LONG_WORKER_CUT_S)  # the outage
    proxy.restore()

    rig.wait_settled(timeout=60)
    tally = rig.tally()
    reruns = _reruns_of_finished(rig.ledger.executions())
    print(tally.line())
    print(f"runs executed again after they had finished: {len(reruns)}")
    figures.values.update(tally.figures())
    figures["reruns_of_finished_runs"] = len(reruns)
    assert LONG_WORKER_CUT_S > SHORT_LEASE_S
    assert not reruns, f"finished runs executed again after the outage: {reruns}"
    tally.assert_nothing_lost_or_doubled()


def _reruns_of_finished(executions: list[Execution]) -> list[str]:
    """Run ids executed again after an execution of theirs had already finished."""
    by_run: dict[str, list[Execution]] = {}
    for execution in executions:
        by_run.setdefault(execution.run_id, []).append(execution)
    return sorted(
        run_id
        for run_id, runs in by_run.items()
        if any(
            a.finished_at is not None and b.started_at >= a.finished_at
            for a in runs
            for b in runs
            if a is not b
        )
    )
