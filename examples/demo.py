"""dueq's demo app: ``dueq up --app examples.demo`` shows every kind of event in seconds.

* ``demo.cron``     a cron job every 5 seconds (cron's ``second="*/5"``)
* ``demo.interval`` an interval job every 3 seconds with arguments
* ``demo.fail``     fails with a ValueError every 7 seconds: its traceback is printed
* ``demo.slow``     runs 3 seconds but is due every 2, with max_instances=1: every other
                    run is skipped and reported as max_instances

Job functions are registered with ``@job(name)``; the worker of ``dueq up`` may run the
functions of this module and nothing else.  ``schedule(scheduler)`` adds the jobs, with
``replace_existing=True`` so starting again updates them instead of failing.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from dueq import job

# How long the slow job works; longer than its interval, so runs overlap.
SLOW_SECONDS = 3.0


@job("demo.tick")
def tick() -> str:
    """The cron job: says when it ran."""
    return f"tick at {datetime.now(UTC):%H:%M:%S}"


@job("demo.add")
def add(a: int, b: int) -> int:
    """The interval job: its return value is printed."""
    return a + b


@job("demo.fail")
def fail(order_id: int) -> None:
    """The failing job: the traceback reaches the scheduler and is printed."""
    raise ValueError(f"order {order_id} has no customer")


@job("demo.slow")
def slow(seconds: float) -> str:
    """The slow job: longer than its interval, so the next run finds it still running."""
    time.sleep(seconds)
    return f"slept {seconds:g}s"


def schedule(scheduler: Any) -> None:
    """Add the demo's jobs (called by ``dueq up`` with its scheduler)."""
    scheduler.add_job(tick, "cron", second="*/5", id="demo.cron", replace_existing=True)
    scheduler.add_job(
        add, "interval", seconds=3, args=[2, 3], id="demo.interval", replace_existing=True
    )
    scheduler.add_job(fail, "interval", seconds=7, args=[42], id="demo.fail", replace_existing=True)
    scheduler.add_job(
        slow,
        "interval",
        seconds=2,
        args=[SLOW_SECONDS],
        max_instances=1,
        id="demo.slow",
        replace_existing=True,
    )
