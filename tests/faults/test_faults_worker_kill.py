"""Guarantee: a worker killed mid-run loses the run to nobody and breaks no fleet limit.

Three workers share claims in PostgreSQL (claim lease 2 s).  Two jobs have
``max_instances=1``: ``long`` runs once and holds until the test lets it end (a gate, so
it is surely still running when its worker dies, however loaded the host); ``busy``
fires every 0.5 s and each run takes 0.7 s, so its runs keep colliding with the limit.
The worker executing ``long`` is killed with SIGKILL once its keeper has renewed the
claim.  The claim must lapse at the end of the lease it last renewed, and not before
(while it may still live, nobody else runs the job); a surviving worker must then hand
the run over (republished, marked redelivered) and complete it, and the job's own
records must never show two instances of one job at once.  The run history shows both
executions: the killed worker's, ``lost``, then the survivor's.  How long the handover
took is a figure: it depends on the host's load.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dueq.shared.triggers import DateTrigger, IntervalTrigger
from tests.faults.faults_ledger import Execution
from tests.faults.faults_results import Figures
from tests.faults.faults_rig import OPEN_WINDOW_S, JobSpec, Rig, soon
from tests.support.waiting import wait_until

CLAIM_LEASE_S = 2.0
BUSY_EVERY_S, BUSY_RUN_S = 0.5, 0.7
LEAD_S = 4.0
# Deadline of each wait: only a stuck deployment takes this long, on any host.
STUCK_S = 60.0


def test_worker_kill_9_mid_run_hands_the_run_over_when_the_claim_lease_lapses(
    rig: Rig, figures: Figures
) -> None:
    start = soon(LEAD_S)
    gate = rig.gate("long")
    rig.add_open_jobs(
        [
            JobSpec("long", DateTrigger(run_date=start + timedelta(seconds=1)), gate=gate),
            JobSpec(
                "busy",
                IntervalTrigger(
                    seconds=BUSY_EVERY_S,
                    start_date=start,
                    end_date=start + timedelta(seconds=OPEN_WINDOW_S),
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
    scheduler = rig.scheduler("scheduler")

    first = wait_until(
        lambda: _long_runs(rig.ledger.executions()), "the long run to start", timeout=STUCK_S
    )[0]
    victim = workers[first.pid]
    claimed = _claim(rig, first.run_id)
    held = wait_until(  # the victim's lease as last seen alive, renewed at least once
        lambda: _renewed(rig, first.run_id, claimed["lease_expires_at"]),
        "the victim's keeper to renew its claim",
        timeout=STUCK_S,
    )
    killed_at = victim.kill()
    taken = wait_until(
        lambda: [e for e in _long_runs(rig.ledger.executions()) if e.pid != victim.pid],
        "another worker to take the long run over",
        timeout=STUCK_S,
    )[0]
    taker_claim = _claim(rig, first.run_id)
    rig.open_gate(gate)
    redone = wait_until(
        lambda: [e for e in _long_runs(rig.ledger.executions()) if e.finished_at is not None],
        "the long run to be completed by another worker",
        timeout=STUCK_S,
    )[0]
    wait_until(
        lambda: (
            _busy_after(rig.ledger.executions(), killed_at)
            and "max_instances" in rig.ledger.statuses().values()
        ),
        "the busy job to run after the kill and to meet its limit",
        timeout=STUCK_S,
    )
    assert scheduler.alive
    rig.stop_and_expect_committed(scheduler)
    rig.keep_history()
    settle = rig.wait_drained(timeout=STUCK_S, killed_pids=[victim.pid])
    history = wait_until(
        lambda: _both_executions(rig, first.run_id),
        "the history to record the long run's completion after the kill",
        timeout=STUCK_S,
    )

    executions = rig.ledger.executions()
    tally = rig.tally(killed_pids=[victim.pid])
    handover = taken.started_at - killed_at
    overlaps = {job: _overlaps(executions, job, killed_at, victim.pid) for job in ("long", "busy")}
    after_lease = (taker_claim["claimed_at"] - held["lease_expires_at"]).total_seconds()
    print(tally.line())
    print(
        f"worker pid {victim.pid} killed {killed_at - first.started_at:.2f} s into run "
        f"{first.run_id}; taken over by pid {taken.pid} {handover:.2f} s after the kill "
        f"({after_lease:.2f} s after the lease it last renewed ran out; claim lease "
        f"{CLAIM_LEASE_S:.0f} s); overlapping instances {overlaps}; settled {settle:.1f} s"
    )
    figures.values.update(tally.figures())
    figures["interrupted_by_kill"] = tally.interrupted
    figures["handover_after_kill_s"] = handover
    figures["handover_after_lease_expiry_s"] = after_lease
    figures["busy_executions"] = sum(e.job_id == "busy" for e in executions)
    figures["overlapping_instances"] = sum(overlaps.values())
    assert held["worker_id"] == victim.name
    assert held["status"] == "running"
    assert taker_claim["worker_id"] != victim.name
    # No second instance while the dead worker's lease ran: it might have been alive.
    assert taker_claim["claimed_at"] >= held["lease_expires_at"], "the claim was taken early"
    assert redone.pid == taken.pid != victim.pid
    assert redone.run_id == first.run_id
    # Both executions, each where it ran (a worker's id is its process name here).
    assert [(r["execution"], r["status"], r["worker_id"]) for r in history] == [
        (1, "lost", victim.name),
        (2, "executed", taker_claim["worker_id"]),
    ]
    assert history[1]["redelivered"]
    assert overlaps == {"long": 0, "busy": 0}, "max_instances=1 was exceeded"
    assert tally.interrupted >= 1
    tally.assert_nothing_lost_or_doubled()
    assert tally.max_instances > 0, "the busy job should have hit its limit"


def _long_runs(executions: list[Execution]) -> list[Execution]:
    return [e for e in executions if e.job_id == "long"]


def _busy_after(executions: list[Execution], moment: float) -> bool:
    return any(e.job_id == "busy" and e.started_at > moment for e in executions)


def _claim(rig: Rig, run_id: str) -> dict[str, Any]:
    claim = rig.ledger.claim(run_id)
    assert claim is not None, f"no claim of {run_id}"
    return claim


def _renewed(rig: Rig, run_id: str, first_expiry: Any) -> dict[str, Any] | None:
    claim = _claim(rig, run_id)
    return claim if claim["lease_expires_at"] > first_expiry else None


def _both_executions(rig: Rig, run_id: str) -> list[dict[str, Any]] | None:
    rows = rig.ledger.history_rows(run_id)
    return rows if len(rows) >= 2 and rows[-1]["status"] == "executed" else None


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
