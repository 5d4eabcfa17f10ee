"""SQL tables shared by the scheduler (jobs, runs, leader lease, workers) and workers (claims).

SQLAlchemy Core only, portable between SQLite and PostgreSQL.  Timestamps are stored as
naive UTC and come back aware (``UtcDateTime``), so comparisons in SQL are plain and no
database's time zone handling is involved.  The schema itself is created and upgraded by
the Alembic migrations in ``shared/migrations``; these definitions must match them (a test
compares the two).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

__all__ = [
    "JOB_STATUS_LENGTH",
    "UtcDateTime",
    "claims",
    "jobs",
    "leader",
    "metadata",
    "retries",
    "runs",
    "workers",
]

metadata = sa.MetaData()

JOB_STATUS_LENGTH = 32


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """An aware UTC datetime in Python, a naive UTC timestamp in the database."""

    impl = sa.DateTime(timezone=False)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given where UTC is required")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite without type detection
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC)


jobs = sa.Table(
    "dueq_jobs",
    metadata,
    sa.Column("id", sa.String(255), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("func", sa.String(255), nullable=False),
    sa.Column("args", sa.JSON, nullable=False),
    sa.Column("kwargs", sa.JSON, nullable=False),
    sa.Column("trigger", sa.JSON, nullable=False),
    sa.Column("queue", sa.String(200), nullable=False),
    sa.Column("misfire_grace_time", sa.Float, nullable=True),
    sa.Column("coalesce", sa.Boolean, nullable=False),
    sa.Column("max_instances", sa.Integer, nullable=False),
    # When the loop must next act on this job (the nominal fire time plus its jitter);
    # NULL while paused. The due-job query reads only this index.
    sa.Column("next_run_time", UtcDateTime, nullable=True, index=True),
    # The nominal trigger time behind next_run_time: the walk continues from here, so
    # jitter never accumulates.
    sa.Column("next_fire_time", UtcDateTime, nullable=True),
    # Retry policy, timeout and overlap as JSON (NULL: none); see docs/run-control.md.
    sa.Column("run_control", sa.JSON, nullable=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

runs = sa.Table(
    "dueq_runs",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    # 1 for a run's first execution; n once it was executed again (taken over after its
    # worker died) n-1 times: each execution is a row of its own.
    sa.Column("execution", sa.Integer, primary_key=True, autoincrement=False, server_default="1"),
    sa.Column("job_id", sa.String(255), nullable=False),
    sa.Column("scheduled_at", UtcDateTime, nullable=False),
    sa.Column("status", sa.String(JOB_STATUS_LENGTH), nullable=False),
    sa.Column("published_at", UtcDateTime, nullable=True),
    sa.Column("worker_id", sa.String(255), nullable=True),
    sa.Column("started_at", UtcDateTime, nullable=True),
    sa.Column("finished_at", UtcDateTime, nullable=True),
    sa.Column("duration_s", sa.Float, nullable=True),
    sa.Column("lateness_s", sa.Float, nullable=True),
    sa.Column("retval", sa.JSON, nullable=True),
    sa.Column("exception_type", sa.String(255), nullable=True),
    sa.Column("exception_message", sa.Text, nullable=True),
    sa.Column("traceback", sa.Text, nullable=True),
    sa.Column("redelivered", sa.Boolean, nullable=False, default=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
    # 1 for a run as the trigger made it; n for its (n-1)th retry (a row of its own).
    sa.Column("attempt", sa.Integer, nullable=False, server_default="1"),
    sa.Index("ix_dueq_runs_job_scheduled", "job_id", "scheduled_at"),
    sa.Index("ix_dueq_runs_status_updated", "status", "updated_at"),
    # ``dueq runs`` (newest first) and retention (oldest first) both walk this one; without
    # it both sort the whole table, which at 10 million rows takes seconds.
    sa.Index("ix_dueq_runs_scheduled", "scheduled_at"),
)

retries = sa.Table(
    "dueq_retries",
    metadata,
    # The run id of the attempt to publish (deterministic from job, time and attempt).
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("job_id", sa.String(255), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    # When the backoff ends: the loop publishes the retry once this has passed.
    sa.Column("due_at", UtcDateTime, nullable=False, index=True),
    # The RunRequest to publish, as JSON (a new published_at and epoch are stamped then).
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

leader = sa.Table(
    "dueq_leader",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(255), nullable=True),
    # Rises by one at every change of holder; published in every RunRequest so a stale
    # leader's messages can be told apart (fencing).
    sa.Column("epoch", sa.BigInteger, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("renewed_at", UtcDateTime, nullable=False),
    # Where the holder runs ("hostname pid-namespace") and its pid: a standby on the same
    # host whose holder's pid is gone takes over without waiting for the expiry.
    sa.Column("holder_host", sa.String(255), nullable=True),
    sa.Column("holder_pid", sa.Integer, nullable=True),
)

claims = sa.Table(
    "dueq_claims",
    metadata,
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("job_id", sa.String(255), nullable=False),
    sa.Column("worker_id", sa.String(255), nullable=False),
    # running | finished | abandoned
    sa.Column("status", sa.String(JOB_STATUS_LENGTH), nullable=False),
    sa.Column("claimed_at", UtcDateTime, nullable=False),
    # A running claim counts against max_instances only while its lease is live; the
    # worker renews it, and a dead worker's claims lapse on their own (self-healing).
    sa.Column("lease_expires_at", UtcDateTime, nullable=False),
    sa.Column("finished_at", UtcDateTime, nullable=True),
    # The RunRequest as received, so an abandoned run can be handed to another worker.
    sa.Column("payload", sa.Text, nullable=False),
    # The newer run of the job that asked this running one to stop (overlap cancel_other);
    # its worker's lease keeper reads it while renewing and cancels the run where it can.
    sa.Column("cancelled_by", sa.String(64), nullable=True),
    sa.Index("ix_dueq_claims_job_status", "job_id", "status"),
    sa.Index("ix_dueq_claims_status_lease", "status", "lease_expires_at"),
)

workers = sa.Table(
    "dueq_workers",
    metadata,
    sa.Column("worker_id", sa.String(255), primary_key=True),
    sa.Column("hostname", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("queues", sa.JSON, nullable=False),
    sa.Column("concurrency", sa.Integer, nullable=False),
    sa.Column("running", sa.Integer, nullable=False),
    # online | offline
    sa.Column("status", sa.String(JOB_STATUS_LENGTH), nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=True),
    sa.Column("last_seen_at", UtcDateTime, nullable=False),
)
