"""Initial schema: jobs, runs, leader lease, worker claims, workers.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Migrations are frozen history: they spell out plain types instead of importing
# shared.tables, whose later edits must not change what revision 0001 created.
_TS = sa.DateTime(timezone=False)


def upgrade() -> None:
    op.create_table(
        "dueq_jobs",
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
        sa.Column("next_run_time", _TS, nullable=True),
        sa.Column("next_fire_time", _TS, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_index("ix_dueq_jobs_next_run_time", "dueq_jobs", ["next_run_time"])
    op.create_table(
        "dueq_runs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("job_id", sa.String(255), nullable=False),
        sa.Column("scheduled_at", _TS, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("published_at", _TS, nullable=True),
        sa.Column("worker_id", sa.String(255), nullable=True),
        sa.Column("started_at", _TS, nullable=True),
        sa.Column("finished_at", _TS, nullable=True),
        sa.Column("duration_s", sa.Float, nullable=True),
        sa.Column("lateness_s", sa.Float, nullable=True),
        sa.Column("retval", sa.JSON, nullable=True),
        sa.Column("exception_type", sa.String(255), nullable=True),
        sa.Column("exception_message", sa.Text, nullable=True),
        sa.Column("traceback", sa.Text, nullable=True),
        sa.Column("redelivered", sa.Boolean, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_index("ix_dueq_runs_job_scheduled", "dueq_runs", ["job_id", "scheduled_at"])
    op.create_index("ix_dueq_runs_status_updated", "dueq_runs", ["status", "updated_at"])
    op.create_table(
        "dueq_leader",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(255), nullable=True),
        sa.Column("epoch", sa.BigInteger, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("renewed_at", _TS, nullable=False),
    )
    op.create_table(
        "dueq_claims",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("job_id", sa.String(255), nullable=False),
        sa.Column("worker_id", sa.String(255), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("claimed_at", _TS, nullable=False),
        sa.Column("lease_expires_at", _TS, nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.Column("payload", sa.Text, nullable=False),
    )
    op.create_index("ix_dueq_claims_job_status", "dueq_claims", ["job_id", "status"])
    op.create_index("ix_dueq_claims_status_lease", "dueq_claims", ["status", "lease_expires_at"])
    op.create_table(
        "dueq_workers",
        sa.Column("worker_id", sa.String(255), primary_key=True),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("queues", sa.JSON, nullable=False),
        sa.Column("concurrency", sa.Integer, nullable=False),
        sa.Column("running", sa.Integer, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("started_at", _TS, nullable=True),
        sa.Column("last_seen_at", _TS, nullable=False),
    )


def downgrade() -> None:
    for table in ("dueq_workers", "dueq_claims", "dueq_leader", "dueq_runs", "dueq_jobs"):
        op.drop_table(table)
