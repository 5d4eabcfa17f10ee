"""APScheduler 3.11 reference measurements, each in a process of its own.

``python -m tests.bench.ref_apscheduler MODE --n N ...`` prints one JSON object on its last
line.  Setup as the issue states: a thread pool of 20, ``misfire_grace_time=None`` (so no
run is dropped), ``coalesce=False`` (every run-time counts), memory or SQLAlchemy/SQLite
store.  The jobs return their start time, which the listener pairs with the scheduled time.
"""

from __future__ import annotations

import argparse
import gc
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psutil
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from tests.bench.ref_jobs import stamp
from tests.bench.stats import lag_summary, rate

__all__ = ["main"]

# The reference setup.
POOL_THREADS = 20
# Seconds between the end of setup and the burst instant, on top of the estimated add time.
SETUP_MARGIN_S = 1.5


class Recorder:
    """Collects (scheduled, started, finished) of each run from APScheduler's listener."""

    def __init__(self) -> None:
        self.runs: list[tuple[float, float, float]] = []
        self.missed = 0
        self.errors = 0
        self.changed = threading.Condition()

    def __call__(self, event: Any) -> None:
        with self.changed:
            if event.code == EVENT_JOB_MISSED:
                self.missed += 1
            elif event.code == EVENT_JOB_ERROR:
                self.errors += 1
            else:
                scheduled = event.scheduled_run_time.timestamp()
                self.runs.append((scheduled, float(event.retval), time.time()))
            self.changed.notify_all()

    def wait_for(self, count: int, deadline: float) -> bool:
        with self.changed:
            while len(self.runs) + self.missed + self.errors < count:
                remaining = deadline - time.time()
                if remaining <= 0:
                    return False
                self.changed.wait(min(remaining, 1.0))
        return True


def make_scheduler(store: str, db_path: str | None, recorder: Recorder) -> BackgroundScheduler:
    """A BackgroundScheduler set up as the issue says, listened to by ``recorder``."""
    jobstore: Any = (
        MemoryJobStore() if store == "memory" else SQLAlchemyJobStore(url=f"sqlite:///{db_path}")
    )
    scheduler = BackgroundScheduler(
        jobstores={"default": jobstore},
        executors={"default": ThreadPoolExecutor(POOL_THREADS)},
        job_defaults={"misfire_grace_time": None, "coalesce": False, "max_instances": 1},
        timezone="UTC",
    )
    scheduler.add_listener(recorder, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    return scheduler


def addjob(args: argparse.Namespace) -> dict[str, Any]:
    """add_job calls per second into the SQLite store of a running scheduler."""
    scheduler = make_scheduler("sqlite", args.db, Recorder())
    scheduler.start()
    far = datetime.now(UTC) + timedelta(days=1)
    started = time.perf_counter()
    for i in range(args.n):
        scheduler.add_job(stamp, "date", run_date=far, id=f"a{i}")
    elapsed = time.perf_counter() - started
    scheduler.shutdown()
    return {"jobs": args.n, "add_job_per_s": round(rate(args.n, elapsed), 1)}


def burst(args: argparse.Namespace) -> dict[str, Any]:
    """N date jobs due at one instant: time until all started/finished, start lag."""
    recorder = Recorder()
    scheduler = make_scheduler(args.store, args.db, recorder)
    instant = time.time() + args.n / args.add_rate * 1.5 + SETUP_MARGIN_S
    run_date = datetime.fromtimestamp(instant, UTC)
    for i in range(args.n):  # pending until start(), which writes them to the store
        scheduler.add_job(stamp, "date", run_date=run_date, id=f"b{i}")
    scheduler.start()
    ready = time.time()
    complete = recorder.wait_for(args.n, instant + args.timeout)
    scheduler.shutdown(wait=False)
    starts = [s for _, s, _ in recorder.runs]
    ends = [e for _, _, e in recorder.runs]
    return {
        "store": args.store,
        "jobs": args.n,
        "setup_late": ready > instant,
        "complete": complete,
        "executed": len(recorder.runs),
        "missed": recorder.missed,
        "all_started_s": round(max(starts) - instant, 3) if starts else None,
        "all_done_s": round(max(ends) - instant, 3) if ends else None,
        "runs_per_s": round(rate(len(ends), max(ends) - instant), 1) if ends else None,
        "start_lag": lag_summary([s - instant for s in starts]),
    }


def steady(args: argparse.Namespace) -> dict[str, Any]:
    """J interval jobs, 1 s each, phases spread over the second, for D seconds."""
    recorder = Recorder()
    scheduler = make_scheduler(args.store, args.db, recorder)
    first = time.time() + args.n / args.add_rate * 1.5 + SETUP_MARGIN_S
    for i in range(args.n):
        start = datetime.fromtimestamp(first + i / args.n, UTC)
        scheduler.add_job(stamp, "interval", seconds=1, start_date=start, id=f"s{i}")
    scheduler.start()
    end = first + args.duration
    expected = args.n * args.duration
    recorder.wait_for(expected, end + args.drain)
    scheduler.shutdown(wait=False)
    runs = [(sched, st) for sched, st, _ in recorder.runs if first - 0.001 <= sched < end]
    return {
        "store": args.store,
        "jobs": args.n,
        "duration_s": args.duration,
        "expected": expected,
        "executed": len(runs),
        "lost": expected - len(runs),
        "missed": recorder.missed,
        "start_lag": lag_summary([st - sched for sched, st in runs]),
    }


def rss(args: argparse.Namespace) -> dict[str, Any]:
    """Bytes of RSS per job in the memory store (interval jobs, scheduler paused)."""
    scheduler = make_scheduler("memory", None, Recorder())
    scheduler.start(paused=True)
    process = psutil.Process()
    gc.collect()
    before = process.memory_info().rss
    for i in range(args.n):
        scheduler.add_job(stamp, "interval", hours=1, id=f"r{i}", args=[i])
    gc.collect()
    after = process.memory_info().rss
    scheduler.shutdown(wait=False)
    return {
        "jobs": args.n,
        "rss_before_mb": round(before / 2**20, 1),
        "rss_after_mb": round(after / 2**20, 1),
        "bytes_per_job": round((after - before) / args.n),
    }


MODES = {"addjob": addjob, "burst": burst, "steady": steady, "rss": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--n", type=int, required=True, help="jobs")
    parser.add_argument("--store", choices=["memory", "sqlite"], default="memory")
    parser.add_argument("--db", help="SQLite file for the sqlite store")
    parser.add_argument("--add-rate", type=float, default=5000.0, help="estimated adds/s")
    parser.add_argument("--duration", type=int, default=60, help="steady: seconds")
    parser.add_argument("--drain", type=float, default=5.0, help="steady: seconds after")
    parser.add_argument("--timeout", type=float, default=120.0, help="burst: seconds")
    args = parser.parse_args()
    print(json.dumps(MODES[args.mode](args)), flush=True)


if __name__ == "__main__":
    main()
