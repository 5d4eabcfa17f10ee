"""Guarantee: a worker killed mid-run loses the run to nobody and breaks no fleet limit.

Three workers share claims in PostgreSQL (claim lease 2 s).  Two jobs have
``max_instances=1``: ``long`` runs once for 3 s; ``busy`` fires every 0.5 s and each run
takes 0.7 s, so its runs keep colliding with the limit.  The worker executing ``long``
is killed with SIGKILL one second into the run.  Its claim must lapse within the lease, a
surviving worker must hand the run over (republished, marked redelivered) and complete
it, and the job's own records must never show two instances of one job at once.  The run
history shows both executions: the killed worker's, ``lost``, then the survivor's.
"""

from __future__ import annotations

import time
from datetime import timedelta

from dueq.shared.triggers import DateTrigger, IntervalTrigger
from tests.faults.faults_ledger import Execution
from tests.faults.faults_results import Figures
from tests.faults.faults_rig import JobSpec, Rig, soon
from tests.support.waiting import wait_until

CLAIM_LEASE_S = 2.0
# The keeper renews every third of the lease and reaps as often: a dead worker's run is
# handed over at most lease + lease/3 after its death, plus delivery; the margin covers a
# busy 2-core host.
HANDOVER_BOUND_S = CLAIM_LEASE_S * 4 / 3 + 1.5
LONG_RUN_S, BUSY_EVERY_S, BUSY_RUN_S, WINDOW_S = 3.0, 0.5, 0.7, 8.0
LEAD_S = 4.0
# How far into the long run the worker is killed.
KILL_INTO_RUN_S = 1.0


def test_worker_kill_9_mid_run_hands_the_run_over_within_the_claim_lease(
    rig: Rig, figures: Figures
) -> None:
    start = soon(LEAD_S)
    long_at = start + timedelta(seconds=2)
    rig.add_jobs(
        [
            JobSpec("long", DateTrigger(run_date=long_at), seconds=LONG_RUN_S),
            JobSpec(
                "busy",
                IntervalTrigger(
                    seconds=BUSY_EVERY_S,
                    start_date=start,
                    end_date=start + timedelta(seconds=WINDOW_S),
                ),
                seconds=BUSY_RUN_S,
            ),
        ]
    )
    workers = {
        p.pid: p
        for p in (
            rig.worker(f"worker-{n}", concurrency=2, claim_lease=CLAIM_LEASE_S) for n in range(3)
        )
    }
    rig.wait_consuming(*workers.values())
    rig.scheduler("scheduler")

    first = wait_until(
        lambda: _long_runs(rig.ledger.executions()), "the long run to start", timeout=30
    )[0]
    victim = workers[first.pid]
    wait_until(
        lambda: victim.alive and time.time() >= first.started_at + KILL_INTO_RUN_S,
        "mid-run",
        timeout=10,
    )
    killed_at = victim.kill()
    redone = wait_until(
        lambda: [e for e in _long_runs(rig.ledger.executions()) if e.finished_at is not None],
        "the long run to be completed by another worker",
        timeout=30,
    )[0]
    settle = rig.wait_settled(timeout=60, killed_pids=[victim.pid])

    executions = rig.ledger.executions()
    tally = rig.tally(killed_pids=[victim.pid])
    history = rig.ledger.history_rows(first.run_id)
    handover = redone.started_at - killed_at
    overlaps = {job: _overlaps(executions, job, killed_at, victim.pid) for job in ("long", "busy")}
    busy_after = [
        e.started_at for e in executions if e.job_id == "busy" and e.started_at > killed_at
    ]
    print(tally.line())
    print(
        f"worker pid {victim.pid} killed {killed_at - first.started_at:.2f} s into run "
        f"{first.run_id}; handed over and restarted by pid {redone.pid} {handover:.2f} s after "
        f"the kill (claim lease {CLAIM_LEASE_S:.0f} s); overlapping instances {overlaps}; "
        f"settled {settle:.1f} s"
    )
    figures.values.update(tally.figures())
    figures["interrupted_by_kill"] = tally.interrupted
    figures["handover_after_kill_s"] = handover
    figures["busy_executions"] = sum(e.job_id == "busy" for e in executions)
    figures["overlapping_instances"] = sum(overlaps.values())
    assert redone.pid != victim.pid
    assert redone.run_id == first.run_id
    # Both executions, each where it ran (a worker's id is its process name here).
    assert [(r["execution"], r["status"], r["worker_id"]) for r in history] == [
        (1, "lost", victim.name),
        (2, "executed", history[1]["worker_id"]),
    ]
    assert history[1]["worker_id"] != victim.name
    assert history[1]["redelivered"]
    assert handover < HANDOVER_BOUND_S, "the dead worker's claim outlived its lease"
    assert busy_after, "the busy job must go on running after the kill"
    assert overlaps == {"long": 0, "busy": 0}, "max_instances=1 was exceeded"
    assert tally.interrupted >= 1
    tally.assert_nothing_lost_or_doubled()
    assert tally.max_instances > 0, "the busy job should have hit its limit"


def _long_runs(executions: list[Execution]) -> list[Execution]:
    return [e for e in executions if e.job_id == "long"]


def _overlaps(executions: list[Execution], job_id: str, killed_at: float, killed_pid: int) -> int:
    """Executions of ``job_id`` that started while an earlier one was still running.

    An execution cut short by the kill ends at the kill (the process stopped there).
    """
    spans = sorted(
        (e.started_at, e.finished_at if e.finished_at is not None else killed_at)
        for e in executions
        if e.job_id == job_id and (e.finished_at is not None or e.pid == killed_pid)
    )
    overlapping, latest_end = 0, float("-inf")
    for begin, end in spans:
        overlapping += begin < latest_end
        latest_end = max(latest_end, end)
    return overlapping
