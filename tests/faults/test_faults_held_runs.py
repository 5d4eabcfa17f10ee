"""Guarantee: runs published ahead of their time (look-ahead) start on time, once, never early.

The scheduler runs with a long look-ahead here (5 s, its maximum) so the runs sit in a
worker's hold long enough to do something to them: kill the worker holding them, or pause
their job.  The job records each execution with its start time (``fault_jobs``), so
"never before scheduled_at" is read from the job's own clock, on the same host.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from dueq.producer import Scheduler
from dueq.shared.protocol import RunRequest
from dueq.shared.triggers import DateTrigger, IntervalTrigger
from tests.faults.faults_ledger import Execution
from tests.faults.faults_results import Figures
from tests.faults.faults_rig import JobSpec, Rig, soon
from tests.faults.faults_tap import RabbitTap
from tests.support.waiting import wait_until

LOOKAHEAD_S = 5.0
# Tolerance of "not before scheduled_at": float rounding of epoch seconds, nothing more.
EARLY_TOLERANCE_S = 0.001
# The instant of the held runs, from when they are added: the scheduler, already leading
# (its start-up, the slow part on a loaded host, is over), publishes them when the
# look-ahead reaches them, 1.5 s later; the test then has the look-ahead (5 s) to strike.
LEAD_S = LOOKAHEAD_S + 1.5
# Deadline of each wait that no instant bounds: only a stuck deployment takes this long.
STUCK_S = 60.0
# A kill or pause must come this long before the instant to count as "while held".
MARGIN_S = 0.5


def test_a_worker_killed_while_holding_early_runs_loses_none_and_runs_none_twice(
    rig: Rig, figures: Figures
) -> None:
    victim = rig.worker("holder", concurrency=10)  # prefetch 20: holds every run
    scheduler = rig.scheduler("scheduler", extra=["--lookahead-seconds", str(LOOKAHEAD_S)])
    rig.wait_consuming(victim)
    scheduler.wait_for_log(r"is the leader", timeout=STUCK_S)
    tap = rig.tap_runs()
    at = soon(LEAD_S)
    rig.add_jobs(JobSpec(f"held-{n}", DateTrigger(run_date=at)) for n in range(12))

    wait_until(
        lambda: len(tap.runs()) == len(rig.expected) and rig.queue_depth() == 0,
        "every run to be published and delivered to the worker",
        timeout=LEAD_S,
    )
    assert time.time() < at.timestamp() - MARGIN_S, "too late to kill the worker while it holds"
    killed_at = victim.kill()
    survivor = rig.worker("survivor", concurrency=10)
    settle = rig.wait_settled(timeout=60, killed_pids=[victim.pid])

    executions = rig.ledger.executions()
    tally = rig.tally(tap=tap, killed_pids=[victim.pid])
    early = _started_early(executions, rig.expected)
    print(tally.line())
    print(
        f"worker pid {victim.pid} killed {at.timestamp() - killed_at:.2f} s before the runs' "
        f"instant while holding {len(rig.expected)}; settled {settle:.1f} s"
    )
    figures.values.update(tally.figures())
    figures["killed_before_instant_s"] = at.timestamp() - killed_at
    figures["started_early"] = len(early)
    assert not [e for e in executions if e.pid == victim.pid], "the dead worker ran a held run"
    assert {e.pid for e in executions} == {survivor.pid}
    assert not early, f"runs started before their scheduled_at: {early}"
    tally.assert_nothing_lost_or_doubled()
    # The ledger counts executions as the jobs record them; the history lags by a batch.
    wait_until(
        lambda: all(_history(rig, run_id)["status"] == "executed" for run_id in rig.expected),
        "the history to record every outcome",
        timeout=30,
    )
    assert all(_history(rig, run_id)["redelivered"] for run_id in rig.expected)


def test_pausing_a_job_whose_runs_are_held_runs_those_once_at_their_time_and_no_more(
    rig: Rig, figures: Figures
) -> None:
    worker = rig.worker("worker", concurrency=10)
    scheduler = rig.scheduler("scheduler", extra=["--lookahead-seconds", str(LOOKAHEAD_S)])
    rig.wait_consuming(worker)
    scheduler.wait_for_log(r"is the leader", timeout=STUCK_S)
    tap = rig.tap_runs()
    client = Scheduler(  # ready before the runs are published: the pause is one commit
        database_url=rig.database_url, broker_url=rig.broker_url, prefix=rig.topology.prefix
    )
    start = soon(LEAD_S)
    window = timedelta(seconds=9.5)
    trigger = IntervalTrigger(seconds=1, start_date=start, end_date=start + window)
    paused_runs = rig.add_jobs([JobSpec("paused", trigger)])
    other_runs = rig.add_jobs([JobSpec("other", trigger)])

    try:
        held_before = wait_until(
            lambda: _published(tap, "paused") if len(_published(tap, "paused")) >= 3 else None,
            "the paused job's first runs to be published ahead",
            timeout=LEAD_S,
        )
        client.pause_job("paused")
        paused_at = time.time()
    finally:
        client.shutdown()
    assert paused_at < start.timestamp() - MARGIN_S, "too late to pause before the first run"
    wait_until(
        lambda: time.time() > (start + window).timestamp() + 1, "the window to pass", timeout=30
    )
    held = _published(tap, "paused")
    # Runs published before the pause are submitted and run; none is published after it.
    rig.expected = dict(other_runs)
    rig.expected.update({run.run_id: run.scheduled_at for run in held})
    wait_until(
        lambda: rig.ledger.settled(rig.expected),
        "the submitted runs to run",
        timeout=STUCK_S,
        describe=lambda: f" ({rig.tally(tap=tap).line()}; {rig.tally().lost})",
    )

    executions = rig.ledger.executions()
    tally = rig.tally(tap=tap)
    early = _started_early(executions, rig.expected)
    print(tally.line())
    print(
        f"paused {start.timestamp() - paused_at:.2f} s before the first run with "
        f"{len(held_before)} run(s) held; {len(held)} published in all"
    )
    figures.values.update(tally.figures())
    figures["held_at_pause"] = len(held_before)
    figures["published_paused"] = len(held)
    assert {r.run_id for r in held_before} <= {r.run_id for r in held}
    assert max(r.scheduled_at.timestamp() for r in held) <= paused_at + LOOKAHEAD_S
    assert len(held) < len(paused_runs)
    assert not early, f"runs started before their scheduled_at: {early}"
    tally.assert_nothing_lost_or_doubled()
    assert rig.ledger.jobs_left() == 1  # "paused" stays, paused; "other" ended and is gone


def _published(tap: RabbitTap, job_id: str) -> list[RunRequest]:
    return [run for _, run in tap.runs() if run.job_id == job_id]


def _started_early(executions: list[Execution], expected: dict[str, datetime]) -> list[str]:
    return [
        e.run_id
        for e in executions
        if e.run_id in expected
        and e.started_at < expected[e.run_id].timestamp() - EARLY_TOLERANCE_S
    ]


def _history(rig: Rig, run_id: str) -> dict[str, object]:
    row = rig.ledger.history(run_id)
    assert row is not None, f"no history for {run_id}"
    return row
