"""Writing many jobs at once: ``SqlJobStore.add_jobs``'s statements.

A bulk add is bound by per-row work in Python, not by the database: so each distinct
trigger is serialized once (a batch of jobs usually shares a handful of trigger objects),
the JSON columns go to the driver as ready text and timestamps as naive UTC (what
``UtcDateTime`` would bind), and the rows go as multi-row INSERTs of ``_PAGE`` rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence, Set
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dueq.producer.job import Job
from dueq.producer.store.base import keep_schedule
from dueq.producer.store.rows import row_to_job, run_control
from dueq.shared.errors import ConflictingIdError
from dueq.shared.tables import UtcDateTime, jobs
from dueq.shared.triggers import Trigger

__all__ = ["insert_jobs"]

# Ids per lookup of the stored versions of a batch on SQLite (an IN list of parameters,
# under its limit of 32,766 per statement).
_LOOKUP = 5000
# The columns ``replace_existing`` overwrites (``created_at`` stays the first add's).
_REPLACED = [c.name for c in jobs.c if c.name not in ("id", "created_at")]

# ``dueq_jobs`` as the bulk insert binds it: JSON columns as text serialized here (once per
# distinct trigger), timestamps as naive UTC.  Same table name and columns, so the SQL is
# the same; only the parameter processing differs.
_JSON_COLUMNS = frozenset({"args", "kwargs", "trigger"})


def _bulk_type(column: sa.Column[Any]) -> Any:
    if column.name in _JSON_COLUMNS:
        return sa.Text
    return sa.DateTime if isinstance(column.type, UtcDateTime) else column.type


_bulk_jobs = sa.Table(
    jobs.name,
    sa.MetaData(),
    *(sa.Column(c.name, _bulk_type(c), primary_key=c.primary_key) for c in jobs.c),
)
# On PostgreSQL a batch is streamed with COPY (psycopg's C code formats the rows): 100k jobs
# in ~0.4 s of database time, where one INSERT over arrays spent 12 s in psycopg escaping
# the JSON text of every array element, and a pipelined single-row INSERT 5 s.  COPY cannot
# upsert, so ``replace_existing`` copies into a temporary table and upserts from there.
_COPY_COLUMNS = [c.name for c in jobs.c]
_LOAD_TABLE = "dueq_jobs_load"
_PG_CREATE_LOAD = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_LOAD_TABLE} "
    f"(LIKE {jobs.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
)
_PG_UPSERT = (
    f"INSERT INTO {jobs.name} SELECT * FROM {_LOAD_TABLE} ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{name} = EXCLUDED.{name}" for name in _REPLACED)
)


def insert_jobs(
    conn: Connection,
    batch: dict[str, Job],
    *,
    postgres: bool,
    replace_existing: bool,
    explicit_times: Set[str],
    now: datetime,
) -> None:
    """Write ``batch`` (jobs by id) in the caller's transaction."""
    stored = _stored(conn, list(batch), postgres)
    if stored and not replace_existing:
        raise ConflictingIdError(next(job_id for job_id in batch if job_id in stored))
    rows = _Rows(now)
    values = [
        rows.row(keep_schedule(job, stored.get(job.id), explicit_times, rows.same))
        for job in batch.values()
    ]
    if postgres:
        _copy(conn, values, replace_existing)
    else:
        conn.execute(_sqlite_statement(replace_existing), values)


def _sqlite_statement(replace_existing: bool) -> Any:
    """A single-row INSERT, which SQLAlchemy hands to the driver's ``executemany``."""
    from sqlalchemy.dialects import sqlite  # loaded by the dialect that needs it only

    statement = sqlite.insert(_bulk_jobs)
    if replace_existing:
        excluded = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=["id"], set_={name: excluded[name] for name in _REPLACED}
        )
    return statement


def _stored(conn: Connection, ids: list[str], postgres: bool) -> dict[str, Job]:
    """The stored jobs among ``ids``, read in the same transaction."""
    if postgres:  # one array parameter, not thousands
        from sqlalchemy.dialects import postgresql

        wanted = sa.any_(sa.bindparam("ids", ids, type_=postgresql.ARRAY(sa.String)))
        rows = conn.execute(sa.select(jobs).where(jobs.c.id == wanted)).all()
    else:
        rows = [
            row
            for page in _pages(ids, _LOOKUP)
            for row in conn.execute(sa.select(jobs).where(jobs.c.id.in_(page)))
        ]
    return {row.id: row_to_job(row) for row in rows}


def _copy(conn: Connection, values: list[dict[str, Any]], replace_existing: bool) -> None:
    """COPY the rows on the transaction's own psycopg connection."""
    import psycopg  # only with PostgreSQL, whose driver it is

    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    if replace_existing:
        raw.execute(_PG_CREATE_LOAD)
    target = _LOAD_TABLE if replace_existing else jobs.name
    try:
        with raw.cursor() as cursor:
            with cursor.copy(f"COPY {target} ({', '.join(_COPY_COLUMNS)}) FROM STDIN") as copy:
                for row in values:
                    copy.write_row([row[name] for name in _COPY_COLUMNS])
            if replace_existing:
                cursor.execute(_PG_UPSERT)
    except psycopg.errors.UniqueViolation as exc:  # added by another process meanwhile
        detail = exc.diag.message_detail or ""
        raise ConflictingIdError(next((r["id"] for r in values if f"({r['id']})" in detail),
                                      values[0]["id"])) from exc  # fmt: skip


class _Rows:
    """Row values for the bulk table, serializing each trigger object once."""

    def __init__(self, now: datetime) -> None:
        self._now = _naive(now)
        self._triggers: dict[int, str] = {}
        self._keys: dict[int, str] = {}

    def same(self, a: Trigger, b: Trigger) -> bool:
        """Trigger equality (``Trigger.__eq__``), each trigger object serialized once."""
        return a is b or self._key(a) == self._key(b)

    def _key(self, trigger: Trigger) -> str:
        key = self._keys.get(id(trigger))
        if key is None:
            key = self._keys[id(trigger)] = json.dumps(trigger.to_dict(), sort_keys=True)
        return key

    def row(self, job: Job) -> dict[str, Any]:
        trigger = self._triggers.get(id(job.trigger))
        if trigger is None:
            trigger = self._triggers[id(job.trigger)] = json.dumps(job.trigger.to_dict())
        return {
            "id": job.id,
            "name": job.name,
            "func": job.func,
            "args": json.dumps(list(job.args)) if job.args else "[]",
            "kwargs": json.dumps(dict(job.kwargs)) if job.kwargs else "{}",
            "trigger": trigger,
            "queue": job.queue,
            "misfire_grace_time": job.misfire_grace_time,
            "coalesce": job.coalesce,
            "max_instances": job.max_instances,
            "run_control": _json_or_null(run_control(job)),
            "next_run_time": _naive(job.next_run_time),
            "next_fire_time": _naive(job.next_fire_time),
            "created_at": self._now,
            "updated_at": self._now,
        }


def _json_or_null(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _pages(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _naive(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC).replace(tzinfo=None)
