"""Guarantee: a coalescing job's runs that queued while no worker took them run once.

The scheduler publishes a run of an every-second job each second while no worker is up.
When a worker starts, it finds a backlog in the queue: each run but the newest says (in
``next_scheduled_at``) that a newer run was already due, so it is reported missed with
reason ``coalesced``, and only the newest executes.  Decided from the messages alone.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from dueq.producer import Scheduler
from dueq.shared.triggers import IntervalTrigger
from tests.faults.faults_results import Figures
from tests.faults.faults_rig import FAULT_JOB, Rig, soon
from tests.support.waiting import wait_until

BACKLOG = 4  # runs queued before the worker starts
EVERY_S = 1.0
_OUTCOMES = {"executed", "missed", "max_instances"}


def test_a_coalescing_backlog_left_by_absent_workers_runs_once(rig: Rig, figures: Figures) -> None:
    start = soon(2.0)
    trigger = IntervalTrigger(
        seconds=EVERY_S, start_date=start, end_date=start + timedelta(seconds=30)
    )
    client = Scheduler(
        database_url=rig.database_url, broker_url=rig.broker_url, prefix=rig.topology.prefix
    )
    try:
        client.add_job(FAULT_JOB, trigger, id="tick", coalesce=True)
    finally:
        client.shutdown()
    tap = rig.tap_runs()
    rig.scheduler("scheduler")
    wait_until(lambda: rig.queue_depth() >= BACKLOG, f"{BACKLOG} queued runs", timeout=30)
    # The runs actually queued (a scheduler slow to start publishes one catch-up run for
    # the run-times it missed, as a coalescing job should).
    backlog = wait_until(
        lambda: (
            [run.run_id for _, run in tap.runs()][:BACKLOG] if len(tap.runs()) >= BACKLOG else None
        ),
        "the tap to see the queued runs",
        timeout=10,
    )
    worker = rig.worker("worker")
    rig.wait_consuming(worker)

    rows = wait_until(
        lambda: _reported(rig, backlog),
        "every queued run to be reported",
        timeout=30,
        describe=lambda: f" (history: {[rig.ledger.history(r) for r in backlog]})",
    )
    statuses = [row["status"] for row in rows]
    executed = [e.run_id for e in rig.ledger.executions() if e.run_id in backlog]
    figures["backlog"] = BACKLOG
    figures["backlog_executed"] = len(executed)
    print(f"backlog of {BACKLOG}: {statuses}")
    assert statuses[: BACKLOG - 1] == ["missed"] * (BACKLOG - 1)
    assert all(row["exception_message"] == "missed: coalesced" for row in rows[: BACKLOG - 1])
    assert len(executed) <= 1, "a coalesced backlog ran more than once"


def _reported(rig: Rig, run_ids: list[str]) -> list[dict[str, Any]] | None:
    """The history rows of ``run_ids`` once each has an outcome, else None."""
    rows = [rig.ledger.history(run_id) for run_id in run_ids]
    final = [row for row in rows if row is not None and row["status"] in _OUTCOMES]
    return final if len(final) == len(run_ids) else None
