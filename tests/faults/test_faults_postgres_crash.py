"""Guarantee: kill -9 of PostgreSQL's postmaster, and its restart, lose and double no run.

dueq's database is a private PostgreSQL server (the executions ledger stays on the suite's
own): the scheduler commits a batch there every few hundred milliseconds, and two workers
claim every run there (fleet-wide deduplication and max_instances).  The postmaster is
killed with kill -9 twice:

- by the scheduler itself (``faults_hooked_scheduler.py``), right after the broker
  confirmed a batch and before the store commits it: the commit meets a dead database,
  the batch's runs reach the workers while their claims cannot be written, and after the
  restart the scheduler publishes the batch again (same run ids);
- by the test, at an arbitrary moment of steady dispatch.

Each time the server is restarted at once and recovers from its WAL.  Recovery: from the
server accepting queries again to the first run scheduled after the kill executed.
"""

from __future__ import annotations

import time
from pathlib import Path

from tests.faults.conftest import RigOn
from tests.faults.faults_postgres import PostgresServer
from tests.faults.faults_results import Figures
from tests.faults.faults_rig import OPEN_WINDOW_S, SCHEDULER_LEASE_S, Rig, interval_jobs, soon
from tests.support.waiting import wait_until

JOBS, EVERY_S = 3, 0.25
LEAD_S = 3.0
KILLS = 2
HOOKED_SCHEDULER = Path(__file__).with_name("faults_hooked_scheduler.py")
# The scheduler kills the postmaster after this many confirmed batches (steady dispatch).
KILL_AT_BATCH = 12
# Steady runs executed between two kills: proof that the system is dispatching again.
RUNS_BETWEEN_KILLS = 6


def test_postgres_kill_9_during_commits_and_claims_loses_and_doubles_nothing(
    rig_on: RigOn, rabbitmq_url: str, postgres_server: PostgresServer, figures: Figures
) -> None:
    rig = rig_on(rabbitmq_url, postgres_server.url)
    rig.add_open_jobs(interval_jobs(JOBS, every=EVERY_S, start=soon(LEAD_S), window=OPEN_WINDOW_S))
    workers = [rig.worker(f"worker-{n}") for n in range(2)]
    rig.wait_consuming(*workers)
    scheduler = rig.procs.script("scheduler", HOOKED_SCHEDULER, _hooked_env(rig, postgres_server))

    postgres_server.wait_dead(timeout=60)  # killed by the scheduler between publish and commit
    killed_at = time.time()
    recoveries = [_restart(rig, postgres_server, killed_at)]
    _wait_executions(rig, RUNS_BETWEEN_KILLS)
    killed_at = postgres_server.kill()  # during steady dispatch
    recoveries.append(_restart(rig, postgres_server, killed_at))
    _wait_executions(rig, RUNS_BETWEEN_KILLS)  # dispatching again after the last kill

    retries = scheduler.output().count("temporary database error")
    rig.stop_and_expect_committed(scheduler)
    settle = rig.wait_drained(timeout=60)
    tally = rig.tally()
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
    assert all(worker.alive for worker in workers)
    assert retries > 0, "the scheduler never noticed the database was gone"
    tally.assert_nothing_lost_or_doubled()


def _wait_executions(rig: Rig, more: int) -> None:
    before = len(rig.ledger.executions())
    wait_until(
        lambda: len(rig.ledger.executions()) >= before + more, f"{more} more runs", timeout=30
    )


def _hooked_env(rig: Rig, server: PostgresServer) -> dict[str, str]:
    return {
        "DUEQ_BROKER_URL": rig.broker_url,
        "DUEQ_DATABASE_URL": rig.database_url,
        "DUEQ_PREFIX": rig.topology.prefix,
        "DUEQ_LEASE_SECONDS": str(SCHEDULER_LEASE_S),
        "DUEQ_MAX_SLEEP_SECONDS": "1",
        "FAULTS_KILL_AT_BATCH": str(KILL_AT_BATCH),
        "FAULTS_KILL_PID": str(server.postmaster_pid),
    }


def _restart(rig: Rig, server: PostgresServer, killed_at: float) -> float:
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
