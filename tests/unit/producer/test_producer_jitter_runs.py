"""Jitter through a running scheduler and worker: a run is never reported before its time.

The issue reported ``scheduled_run_time`` 25.021 for a nominal 25.374.  Nominal times are
``start_date + k * interval`` (``Job.next_fire_time``); ``Job.next_run_time`` is the
jittered time, and a grid counted from it is off by the first run's jitter, which is how
an earlier-looking time can be read.  This test counts the grid from the trigger and
checks every reported run against it.
"""

from __future__ import annotations

import queue
from datetime import UTC, datetime, timedelta
from typing import Any

from dueq import (
    EVENT_JOB_EXECUTED,
    BackgroundScheduler,
    IntervalTrigger,
    JobExecutionEvent,
    SchedulerEvent,
    Worker,
    WorkerSettings,
)

INTERVAL = timedelta(seconds=0.5)
JITTER_S = 0.4


def noop() -> None:
    pass


def test_jittered_runs_fall_in_their_nominal_window_and_each_runs_once(
    memory_broker_url: str,
) -> None:
    settings: dict[str, Any] = {"broker_url": memory_broker_url, "queue_type": "classic"}
    worker = Worker(WorkerSettings(**settings, imports=(__name__,), concurrency=2))
    scheduler = BackgroundScheduler(database_url="memory://", **settings)
    heard: queue.Queue[SchedulerEvent] = queue.Queue()
    scheduler.add_listener(heard.put, EVENT_JOB_EXECUTED)
    now = datetime.now(UTC)
    trigger = IntervalTrigger(
        seconds=INTERVAL.total_seconds(), jitter=JITTER_S, start_date=now,
        end_date=now + 4 * INTERVAL + timedelta(milliseconds=100),
    )  # fmt: skip
    worker.start()
    scheduler.start()
    try:
        scheduler.add_job(noop, trigger, id="jittered", coalesce=False)  # late ticks: all runs
        runs = []
        for _ in range(4):  # nominal start + 1..4 intervals; start itself has passed
            event = heard.get(timeout=20)
            assert isinstance(event, JobExecutionEvent)
            runs.append(event.scheduled_run_time)
    finally:
        scheduler.shutdown()
        worker.stop()
    nominal = [now + k * INTERVAL for k in range(1, 5)]
    for run, due in zip(sorted(runs), nominal, strict=True):
        assert due <= run < due + timedelta(seconds=JITTER_S), (run, due)
