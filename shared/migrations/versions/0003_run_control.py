"""Run control: retries waiting for their backoff, the attempt of each run, job options.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=False)


def upgrade() -> None:
    op.create_table(
        "dueq_retries",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("job_id", sa.String(255), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("due_at", _TS, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_index("ix_dueq_retries_due_at", "dueq_retries", ["due_at"])
    with op.batch_alter_table("dueq_runs") as batch:
        batch.add_column(sa.Column("attempt", sa.Integer, nullable=False, server_default="1"))
    with op.batch_alter_table("dueq_jobs") as batch:
        batch.add_column(sa.Column("run_control", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dueq_jobs") as batch:
        batch.drop_column("run_control")
    with op.batch_alter_table("dueq_runs") as batch:
        batch.drop_column("attempt")
    op.drop_index("ix_dueq_retries_due_at", "dueq_retries")
    op.drop_table("dueq_retries")
