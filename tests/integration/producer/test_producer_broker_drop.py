"""The broker drops the scheduler's connection while jobs are due: it reconnects and
publishes what came due meanwhile."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

from dueq.shared.topology import Topology
from tests.integration.producer.conftest import MakeScheduler
from tests.integration.producer.producer_support import RunCollector, force_close_connections

# Short, so the runs before and after the drop take a second or two.
STEP = timedelta(seconds=0.25)


def test_a_dropped_connection_is_reopened_and_no_due_run_is_lost(
    sqlite_url: str, make_scheduler: MakeScheduler, rabbitmq_url: str, topology: Topology
) -> None:
    scheduler = make_scheduler(sqlite_url, scheduler_id=f"{topology.prefix}-sched")
    with RunCollector(rabbitmq_url, topology) as collector:
        scheduler.add_job(
            "pkg.jobs:tick", "interval", seconds=STEP.total_seconds(), id="j", coalesce=False
        )
        scheduler.start()
        collector.wait_for(lambda rs: len(rs) >= 2, "runs before the drop")
        # Only this test's scheduler connection: its name carries the test's own prefix.
        closed = force_close_connections(f"dueq-scheduler {topology.prefix}-sched")
        assert closed == 1
        dropped_at = collector.runs[-1].scheduled_at
        runs = collector.wait_for(
            lambda rs: sum(r.scheduled_at > dropped_at for r in rs) >= 6,
            "runs after reconnecting",
        )
    times = sorted({r.scheduled_at for r in runs})
    assert all(b - a == STEP for a, b in pairwise(times)), "a run due meanwhile was lost"
