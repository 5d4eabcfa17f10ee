"""Guarantee: a lost database connection, for the scheduler or the workers, loses nothing.

The scheduler reaches PostgreSQL through one fault proxy, the two workers (whose claims
live there) through another; the job's own ledger connects directly.  While runs are
due (open-ended jobs: the scheduler is stopped when the faults are done): the
scheduler's database is cut, then stalled; then the workers' database is cut.  A cut
lasts its set length and at least until the processes have hit it (a reconnect refused,
a retry logged), however slowly a loaded host lets them get there.  Each time the
processes must retry, recover and go on; the recovery time is from the restore to the
first run published (scheduler) or executed (workers) again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from dueq.shared.triggers import DateTrigger
from tests.faults.faults_ledger import Execution
from tests.faults.faults_procs import Proc
from tests.faults.faults_proxy import TcpProxy
from tests.faults.faults_results import Figures
from tests.faults.faults_rig import CLAIM_LEASE_S, OPEN_WINDOW_S, JobSpec, Rig, interval_jobs, soon
from tests.faults.faults_tap import RabbitTap
from tests.support.waiting import wait_until

# Least lengths of the outages (timed faults); each lasts until it was noticed, too.
SCHEDULER_CUT_S = 3.0
SCHEDULER_STALL_S = 1.5
# Set shorter than the claim lease, so claims of runs in progress may survive the outage
# (on a loaded host it may last longer until noticed: its length is a figure).
WORKER_CUT_S = 2.0
JOBS, EVERY_S = 4, 0.25
LEAD_S = 4.0
RETRY_LOG = "temporary database error"
# Deadline of each wait: only a stuck deployment takes this long, on any host.
STUCK_S = 60.0


def test_database_cuts_for_scheduler_and_workers_lose_nothing(rig: Rig, figures: Figures) -> None:
    scheduler_proxy, scheduler_db = rig.proxy(rig.database_url, "scheduler-db")
    worker_proxy, worker_db = rig.proxy(rig.database_url, "worker-db")
    tap = rig.tap_runs()
    rig.add_open_jobs(interval_jobs(JOBS, every=EVERY_S, start=soon(LEAD_S), window=OPEN_WINDOW_S))
    workers = [rig.worker(f"worker-{n}", database_url=worker_db) for n in range(2)]
    scheduler = rig.scheduler("scheduler", database_url=scheduler_db)
    rig.wait_consuming(*workers)
    wait_until(lambda: len(tap.runs()) >= 2 * JOBS, "runs to be published", timeout=STUCK_S)

    cut_s, restored = _cut(scheduler_proxy, SCHEDULER_CUT_S, [scheduler])
    scheduler_cut_recovery = _first_publish_after(tap, restored)

    scheduler_proxy.stall()
    time.sleep(SCHEDULER_STALL_S)  # the stall: a timed fault, nothing to notice
    restored = _restore(scheduler_proxy)
    scheduler_stall_recovery = _first_publish_after(tap, restored)

    worker_cut_s, restored = _cut(worker_proxy, WORKER_CUT_S, workers)
    worker_recovery = (
        wait_until(
            lambda: next(
                (e.started_at for e in rig.ledger.executions() if e.started_at > restored), None
            ),
            "an execution after the workers' database came back",
            timeout=STUCK_S,
        )
        - restored
    )
    # Runs were due after the last fault: one scheduled after it executes.
    _wait_scheduled_after(rig, restored)
    assert scheduler.alive
    assert all(w.alive for w in workers)
    retries = sum(p.output().count(RETRY_LOG) for p in (scheduler, *workers))
    rig.stop_and_expect_committed(scheduler)
    settle = rig.wait_drained(timeout=STUCK_S)

    tally = rig.tally(tap=tap)
    print(tally.line())
    print(
        f"database cut {cut_s:.1f} s: scheduler published again "
        f"{scheduler_cut_recovery:.2f} s after the restore; stall {SCHEDULER_STALL_S} s: "
        f"{scheduler_stall_recovery:.2f} s; workers' database cut {worker_cut_s:.1f} s: "
        f"executing again after {worker_recovery:.2f} s; {retries} retries logged; "
        f"settled {settle:.1f} s"
    )
    figures.values.update(tally.figures())
    figures["scheduler_db_cut_s"] = cut_s
    figures["scheduler_db_cut_recovery_s"] = scheduler_cut_recovery
    figures["scheduler_db_stall_recovery_s"] = scheduler_stall_recovery
    figures["worker_db_cut_s"] = worker_cut_s
    figures["worker_db_cut_recovery_s"] = worker_recovery
    figures["retries_logged"] = retries
    assert WORKER_CUT_S < CLAIM_LEASE_S
    assert scheduler_proxy.refused > 0, "no reconnect hit the scheduler's cut"
    assert worker_proxy.refused > 0, "no reconnect hit the workers' cut"
    assert retries > 0, "the outages were not noticed"
    tally.assert_nothing_lost_or_doubled()
    assert tally.missed == tally.max_instances == 0  # no grace limit, room for the backlog


def _cut(
    proxy: TcpProxy,
    at_least: float,
    procs: Sequence[Proc],
    meanwhile: Callable[[], object] = lambda: None,
) -> tuple[float, float]:
    """Cut ``proxy`` for ``at_least`` seconds and until ``procs`` hit the cut: one of their
    reconnects was refused and one of them logged a retry.  ``meanwhile`` runs during the
    cut.  Returns (the outage's length, when it was restored).
    """
    refused, retries = proxy.refused, sum(p.output().count(RETRY_LOG) for p in procs)
    began = time.time()
    proxy.cut()
    meanwhile()
    wait_until(
        lambda: (
            time.time() >= began + at_least
            and proxy.refused > refused
            and sum(p.output().count(RETRY_LOG) for p in procs) > retries
        ),
        f"{', '.join(p.name for p in procs)} to hit the cut of {proxy.name}",
        timeout=STUCK_S,
    )
    restored = _restore(proxy)
    return restored - began, restored


def _restore(proxy: TcpProxy) -> float:
    proxy.restore()
    return time.time()


def _first_publish_after(tap: RabbitTap, moment: float) -> float:
    first = wait_until(
        lambda: next((a for a, _ in tap.runs() if a > moment), None),
        "a run published after the scheduler's database came back",
        timeout=STUCK_S,
    )
    return first - moment


def _wait_scheduled_after(rig: Rig, moment: float) -> None:
    wait_until(
        lambda: any(e.scheduled_at.timestamp() > moment for e in rig.ledger.executions()),
        "a run scheduled after the last fault to execute",
        timeout=STUCK_S,
    )


# Least length of the outage: longer than the claim lease (the time a worker retries
# recording a finished run).
LONG_WORKER_CUT_S = 4.0
SHORT_LEASE_S = 2.0


def test_a_workers_database_outage_longer_than_the_claim_lease_reruns_no_finished_run(
    rig: Rig, figures: Figures
) -> None:
    proxy, worker_db = rig.proxy(rig.database_url, "worker-db")
    start = soon(LEAD_S)
    gate = rig.gate("held")
    specs = [
        replace(spec, seconds=0.3)  # short runs, so some finish while the database is gone
        for spec in interval_jobs(2, every=0.5, start=start, window=OPEN_WINDOW_S)
    ]
    # And one that surely does: it runs until the test lets it end, during the outage.
    specs.append(JobSpec("held", DateTrigger(run_date=start + timedelta(seconds=1)), gate=gate))
    rig.add_open_jobs(specs)
    workers = [
        rig.worker(f"worker-{n}", database_url=worker_db, claim_lease=SHORT_LEASE_S)
        for n in range(2)
    ]
    scheduler = rig.scheduler("scheduler")
    rig.wait_consuming(*workers)
    wait_until(
        lambda: len(rig.ledger.executions()) >= 4 and _held(rig.ledger.executions()),
        "runs executing, the held one among them",
        timeout=STUCK_S,
    )
    outage_s, restored = _cut(
        proxy, LONG_WORKER_CUT_S, workers, meanwhile=lambda: _finish_held(rig, gate)
    )
    held = _held(rig.ledger.executions())
    _wait_scheduled_after(rig, restored)
    assert scheduler.alive
    rig.stop_and_expect_committed(scheduler)
    settle = rig.wait_drained(timeout=STUCK_S)

    tally = rig.tally()
    reruns = _reruns_of_finished(rig.ledger.executions())
    print(tally.line())
    print(
        f"workers' database cut {outage_s:.1f} s (claim lease {SHORT_LEASE_S:.0f} s); runs "
        f"executed again after they had finished: {len(reruns)}; settled {settle:.1f} s"
    )
    figures.values.update(tally.figures())
    figures["worker_db_cut_s"] = outage_s
    figures["reruns_of_finished_runs"] = len(reruns)
    assert LONG_WORKER_CUT_S > SHORT_LEASE_S
    assert len(held) == 1, f"the held run executed {len(held)} times"
    finished_at = held[0].finished_at
    assert finished_at is not None
    assert finished_at < restored, "the held run must finish while the database is gone"
    assert not reruns, f"finished runs executed again after the outage: {reruns}"
    tally.assert_nothing_lost_or_doubled()


def _held(executions: list[Execution]) -> list[Execution]:
    return [e for e in executions if e.job_id == "held"]


def _finish_held(rig: Rig, gate: Path) -> None:
    """Let the held run end (its worker cannot record that), and wait until it has."""
    rig.open_gate(gate)
    wait_until(
        lambda: all(e.finished_at is not None for e in _held(rig.ledger.executions())),
        "the held run to finish during the outage",
        timeout=STUCK_S,
    )


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
