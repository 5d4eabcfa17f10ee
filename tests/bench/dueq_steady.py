"""Keeping J one-second interval jobs firing through timed phases (steady and churn).

The jobs' phases are spread evenly over the second (job i starts at ``first + i/J`` s), so
"1,000 jobs/s" is a steady stream, not a burst each second.  Each phase is a window of
scheduled times; a phase may run a load (the churn of API changes) during its window.
Afterwards the jobs are deleted and the lags of the runs scheduled in each window are
read from the run history.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from dueq.producer.wakeup import WakeupSender
from tests.bench.analysis import summarize_runs
from tests.bench.dueq_cluster import DueqCluster
from tests.bench.dueq_store import (
    bulk_insert,
    delete_jobs,
    interval_jobs,
    open_store,
    read_runs,
    utc,
)
from tests.bench.model import Context
from tests.bench.services import database

__all__ = ["Load", "Phase", "run_phases"]

# Seconds from the bulk insert to the first run: the scheduler re-plans in between.
_LEAD_IN_S = 3.0
# Seconds the jobs keep firing after the last window, so its last runs are not cut off.
_TAIL_S = 2.0


class Load(Protocol):
    """Work run during a phase (the churn), prepared before the stream starts."""

    def prepare(self, cluster: DueqCluster) -> None:
        """Set up (clients, extra jobs) before the first window: not part of any window."""

    def run(self, cluster: DueqCluster, end: float) -> dict[str, Any]:
        """Work until ``end`` (a time.time()); return numbers about the work done."""


@dataclass(frozen=True, kw_only=True)
class Phase:
    """A window of ``seconds`` of scheduled times, with an optional load during it."""

    name: str
    seconds: float
    load: Load | None = None


def _run_load(phase: Phase, cluster: DueqCluster, start: float, end: float) -> dict[str, Any]:
    if phase.load is None:
        time.sleep(max(0.0, end - time.time()))  # nothing to do but let the jobs fire
        return {}
    time.sleep(max(0.0, start - time.time()))
    return phase.load.run(cluster, end)


def run_phases(
    ctx: Context,
    *,
    store: str,
    jobs: int,
    phases: Sequence[Phase],
    tag: str,
    worker_database: bool = False,
) -> dict[str, Any]:
    """Fire ``jobs`` jobs/s through ``phases`` on a 2-worker deployment; raw numbers.

    ``worker_database`` gives the workers the database (the production configuration).
    """
    services = ctx.services
    with (
        database(store, services, tag) as url,
        DueqCluster(
            services, database_url=url, tag=tag, worker_database=worker_database
        ) as cluster,
    ):
        engine = open_store(url)
        cluster.start_workers(2)
        cluster.start_scheduler()
        for phase in phases:
            if phase.load is not None:
                phase.load.prepare(cluster)
        first = time.time() + _LEAD_IN_S + jobs / 5000
        bulk_insert(
            engine,
            interval_jobs(
                "s", jobs, first=utc(first), every=timedelta(seconds=1), spread=timedelta(seconds=1)
            ),
        )
        sender = WakeupSender(services.broker_url, cluster.topology, name="dqb-bench")
        sender.send()
        sender.close()
        windows, loads, start = [], {}, first
        with cluster.sample() as sampler:
            for phase in phases:
                end = start + phase.seconds
                loads[phase.name] = _run_load(phase, cluster, start, end)
                windows.append((phase, start, end))
                start = end
            # Runs due just before the end are still being published: let them go out,
            # then stop the stream (runs scheduled after the windows are not counted).
            time.sleep(_TAIL_S)
            delete_jobs(engine, "s")
            expected = round(jobs * (start - first))
            eps = 0.5 / jobs  # half the spacing of the phases: no run sits on a boundary
            waited = cluster.wait_for_outcomes(
                engine, expected, timeout=120 + expected / 100, before=start - eps
            )
        sched = cluster.stop_scheduler()
        all_runs = read_runs(engine, before=start - eps)
        engine.dispose()
    result: dict[str, Any] = {"store": store, "jobs": jobs, "processes": sampler.result(),
                              "worker_database": worker_database,
                              "scheduler_rss_mb": sched["rss_mb"], "history": waited,
                              "scheduler_thread_cpu_s": sched.get("thread_cpu_s")}  # fmt: skip
    for phase, begin, end in windows:
        runs = [r for r in all_runs if begin - eps <= r.scheduled < end - eps]
        expected = round(jobs * phase.seconds)
        result[phase.name] = {**summarize_runs(runs, expected=expected), **loads[phase.name]}
    return result
