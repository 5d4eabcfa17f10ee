"""Guarantee: kill -9 of PostgreSQL's postmaster, and its restart, lose and double no run.

dueq's database is a private PostgreSQL server (the executions ledger stays on the suite's
own): the scheduler commits a batch there four times a second per job, and two workers
claim every run there (fleet-wide deduplication and max_instances).  The postmaster is
killed with kill -9 twice while runs are due, so commits and claims are cut off in the
middle; the server is restarted at once and recovers from its WAL.  A commit that did not
happen means the scheduler publishes its batch again (same run ids); a claim that did not
happen means the worker hands the run back.  Recovery: from the server accepting queries
again to the first run scheduled after the kill executed.
"""

from __future__ import annotations

import time

from tests.faults.conftest import RigOn
from tests.faults.faults_postgres import PostgresServer
from tests.faults.faults_results import Figures
from tests.faults.faults_rig import Rig, interval_jobs, soon
from tests.support.waiting import wait_until

JOBS, EVERY_S, WINDOW_S = 3, 0.25, 20.0
LEAD_S = 3.0
KILLS = 2
# Steady runs executed between two kills: proof that the system is dispatching again.
RUNS_BETWEEN_KILLS = 6


def test_postgres_kill_9_during_commits_and_claims_loses_and_doubles_nothing(
    rig_on: RigOn, rabbitmq_url: str, postgres_server: PostgresServer, figures: Figures
) -> None:
    rig = rig_on(rabbitmq_url, postgres_server.url)
    start = soon(LEAD_S)
    rig.add_jobs(interval_jobs(JOBS, every=EVERY_S, start=start, window=WINDOW_S))
    window_end = start.timestamp() + WINDOW_S
    workers = [rig.worker(f"worker-{n}") for n in range(2)]
    scheduler = rig.scheduler("scheduler")
    rig.wait_consuming(*workers)

    recoveries = []
    for _ in range(KILLS):
        _wait_executions(rig, RUNS_BETWEEN_KILLS)
        assert time.time() + 2 < window_end, "too slow: the window ended before the kill"
        recoveries.append(_crash_and_restart(rig, postgres_server))
    last_fault_end = max(e.started_at for e in rig.ledger.executions())

    settle = rig.wait_settled(timeout=60)
    tally = rig.tally()
    retries = scheduler.output().count("temporary database error")
    print(tally.line())
    print(
        f"postmaster kill -9 x{KILLS}: a run scheduled after the kill executed "
        + ", ".join(f"{r:.2f} s" for r in recoveries)
        + f" after the server was back; scheduler retries logged {retries}"
    )
    figures.values.update(tally.figures())
    figures["postmaster_kills"] = KILLS
    for number, seconds in enumerate(recoveries, 1):
        figures[f"recovery_after_restart_{number}_s"] = seconds
    figures["settle_s"] = settle
    assert last_fault_end + 1 < window_end, "the kills must happen while runs are due"
    assert scheduler.alive
    assert all(worker.alive for worker in workers)
    assert retries > 0, "the scheduler never noticed the database was gone"
    tally.assert_nothing_lost_or_doubled()


def _wait_executions(rig: Rig, more: int) -> None:
    before = len(rig.ledger.executions())
    wait_until(
        lambda: len(rig.ledger.executions()) >= before + more, f"{more} more runs", timeout=30
    )


def _crash_and_restart(rig: Rig, server: PostgresServer) -> float:
    killed_at = server.kill()
    back = server.start()
    first = wait_until(
        lambda: next(
            (
                e.started_at
                for e in rig.ledger.executions()
                if e.scheduled_at.timestamp() > killed_at
            ),
            0,
        ),
        "a run scheduled after the kill to execute",
        timeout=45,
    )
    return float(first - back)
