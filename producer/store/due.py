"""The loop's due query on PostgreSQL: one statement, rows mapped straight to ``Job``.

A burst reads 10k due jobs, and through SQLAlchemy's typed result each row cost more than
the query: a fetch per row, a result processor per timestamp, psycopg parsing the JSON
columns only for ``row_to_job`` to copy them again.  Here the statement is plain SQL run on
the driver, the rows come in one ``fetchall``, the JSON columns arrive as text (parsed
here, the empty ``[]``/``{}`` of most jobs without a parser), and timestamps are the
driver's naive UTC values, made aware here.  The statement reads what ``SqlJobStore``'s
portable query reads and is proved against it by the store contract suite.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection

from dueq.producer.job import Job
from dueq.producer.store.rows import parse_control, parse_trigger
from dueq.shared.tables import jobs

__all__ = ["fetch_due_postgres"]

_COLUMNS = (
    "id, name, func, CAST(args AS text), CAST(kwargs AS text), CAST(trigger AS text), queue, "
    "misfire_grace_time, coalesce, max_instances, next_run_time, next_fire_time, "
    "CAST(run_control AS text)"
)
# The ids of the batch in flight go as one JSON array (psycopg formats a list parameter
# element by element in Python, a JSON text in C); ``NOT IN`` an empty set is true, so it
# is one statement whether or not a batch is in flight.  ``NOT IN (subquery)`` is a hashed
# subplan, one probe per row; ``<> ALL(ARRAY(...))`` compared each row with every id in
# flight, and in a burst, before autovacuum has analyzed the new jobs, the planner scans
# them all: 10k rows x 500 ids took 100-140 ms per tick instead of 3-5 ms.
_DUE = (
    f"SELECT {_COLUMNS} FROM {jobs.name} WHERE next_run_time <= %(now)s "
    "AND id NOT IN (SELECT json_array_elements_text(CAST(%(exclude)s AS json))) "
    "ORDER BY next_run_time LIMIT %(limit)s"
)
_EMPTY_ARGS = "[]"
_EMPTY_KWARGS = "{}"


def fetch_due_postgres(
    conn: Connection, now: datetime, limit: int, exclude: Collection[str]
) -> list[Job]:
    """At most ``limit`` due jobs by ``now``, soonest first, skipping ``exclude``."""
    params = {"now": _naive(now), "exclude": json.dumps(list(exclude)), "limit": limit}
    rows = conn.exec_driver_sql(_DUE, params).fetchall()
    return [_job(row) for row in rows]


def _job(row: Any) -> Job:
    (job_id, name, func, args, kwargs, trigger, queue, misfire, coalesce, max_instances,
     next_run, next_fire, control) = row  # fmt: skip
    return Job(
        id=job_id,
        name=name,
        func=func,
        trigger=parse_trigger(trigger),
        args=() if args == _EMPTY_ARGS else tuple(json.loads(args)),
        kwargs={} if kwargs == _EMPTY_KWARGS else dict(json.loads(kwargs)),
        misfire_grace_time=misfire,
        coalesce=bool(coalesce),
        max_instances=max_instances,
        queue=queue,
        next_run_time=None if next_run is None else next_run.replace(tzinfo=UTC),
        next_fire_time=None if next_fire is None else next_fire.replace(tzinfo=UTC),
        **parse_control(control),
    )


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)
