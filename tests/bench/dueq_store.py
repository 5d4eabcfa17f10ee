"""Filling a dueq job store in bulk and reading run history back, for the scenarios.

The scenarios need 100k-1M jobs: the scale scenario adds them through the product's bulk
API (``Scheduler.add_jobs``, its "bulk add" number); the others write ready ``Job`` values
through the job store's ``add_jobs``, chunk by chunk.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from dueq.producer import Scheduler
from dueq.producer.job import Job
from dueq.producer.jobspec import schedule
from dueq.producer.store import SqlJobStore
from dueq.shared.db import create_engine, upgrade_schema
from dueq.shared.tables import jobs, runs
from dueq.shared.triggers import DateTrigger, IntervalTrigger, Trigger
from tests.bench.jobs import FUNC

__all__ = [
    "RunRow",
    "api_bulk_add",
    "bulk_insert",
    "burst_jobs",
    "count_outcomes",
    "delete_jobs",
    "interval_items",
    "interval_jobs",
    "open_store",
    "read_runs",
    "utc",
]

# Jobs per store transaction (as ``Scheduler.add_jobs`` chunks them).
CHUNK = 5000
# Statuses that end a run in dueq_runs.
OUTCOMES = ("executed", "error", "missed", "max_instances", "rejected")


def utc(timestamp: float) -> datetime:
    """A POSIX timestamp as an aware UTC datetime."""
    return datetime.fromtimestamp(timestamp, UTC)


def open_store(url: str) -> Engine:
    """An engine on ``url`` with dueq's schema created."""
    engine = create_engine(url)
    upgrade_schema(engine)
    return engine


def _job(job_id: str, trigger: Trigger, now: datetime) -> Job:
    run, fire = schedule(trigger, job_id, now)
    return Job(
        id=job_id,
        name=job_id,
        func=FUNC,
        trigger=trigger,
        next_run_time=run,
        next_fire_time=fire,
    )


def burst_jobs(tag: str, count: int, at: datetime) -> Iterator[Job]:
    """``count`` one-shot jobs all due at ``at``."""
    now = datetime.now(UTC)
    trigger = DateTrigger(run_date=at)
    return (_job(f"{tag}{i}", trigger, now) for i in range(count))


def interval_jobs(
    tag: str, count: int, *, first: datetime, every: timedelta, spread: timedelta
) -> Iterator[Job]:
    """``count`` interval jobs, the i-th starting at ``first + i * spread / count``."""
    now = datetime.now(UTC)
    for i in range(count):
        start = first + spread * i / count
        yield _job(
            f"{tag}{i}", IntervalTrigger(seconds=every.total_seconds(), start_date=start), now
        )


def interval_items(
    tag: str, count: int, *, first: datetime, every: timedelta, spread: timedelta
) -> Iterator[dict[str, Any]]:
    """``add_jobs`` items: ``count`` jobs of one interval trigger, their first runs spread
    evenly over ``first + spread`` (``next_run_time``), as a user spreading load would."""
    trigger = IntervalTrigger(seconds=every.total_seconds(), start_date=first)
    for i in range(count):
        yield {"func": FUNC, "trigger": trigger, "id": f"{tag}{i}",
               "next_run_time": first + spread * i / count}  # fmt: skip


def api_bulk_add(
    url: str, broker_url: str, prefix: str, items: Iterable[dict[str, Any]]
) -> tuple[int, float]:
    """``Scheduler.add_jobs`` from a client scheduler; returns (jobs, seconds)."""
    client = Scheduler(database_url=url, broker_url=broker_url, prefix=prefix)
    try:
        started = time.perf_counter()
        added = client.add_jobs(items)
        return added, time.perf_counter() - started
    finally:
        client.shutdown()


def bulk_insert(engine: Engine, new_jobs: Iterable[Job], chunk: int = CHUNK) -> tuple[int, float]:
    """Store ready jobs through the job store's ``add_jobs``; returns (jobs, seconds)."""
    store = SqlJobStore(engine)
    total, started = 0, time.perf_counter()
    iterator = iter(new_jobs)
    while batch := list(islice(iterator, chunk)):
        store.add_jobs(batch)
        total += len(batch)
    return total, time.perf_counter() - started


@dataclass(frozen=True, slots=True)
class RunRow:
    """The times of one run as the history recorded them (POSIX seconds)."""

    scheduled: float
    published: float | None
    started: float | None
    status: str


def read_runs(engine: Engine, *, before: float | None = None) -> list[RunRow]:
    """Every run in the history (scheduled before ``before``, if given)."""
    query = sa.select(runs.c.scheduled_at, runs.c.published_at, runs.c.started_at, runs.c.status)
    if before is not None:
        query = query.where(runs.c.scheduled_at < utc(before))
    with engine.connect() as conn:
        return [
            RunRow(
                scheduled=row[0].timestamp(),
                published=None if row[1] is None else row[1].timestamp(),
                started=None if row[2] is None else row[2].timestamp(),
                status=row[3],
            )
            for row in conn.execute(query)
        ]


def count_outcomes(engine: Engine, *, before: float | None = None) -> int:
    """Runs whose outcome the history has recorded (scheduled before ``before``)."""
    query = sa.select(sa.func.count()).select_from(runs).where(runs.c.status.in_(OUTCOMES))
    if before is not None:
        query = query.where(runs.c.scheduled_at < utc(before))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def delete_jobs(engine: Engine, id_prefix: str) -> None:
    """Delete the jobs whose id starts with ``id_prefix``."""
    with engine.begin() as conn:
        conn.execute(jobs.delete().where(jobs.c.id.startswith(id_prefix, autoescape=True)))
