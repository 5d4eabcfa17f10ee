"""Index run history by scheduled time: newest-first listing and retention by age.

Revision ID: 0002
Revises: 0001

The migrations run in one transaction (under an advisory lock), so the index is built
with a plain CREATE INDEX, which blocks writes to ``dueq_runs`` while it builds: a few
seconds per ten million rows.  A deployment that cannot pause recording that long builds
it first by hand, ``CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_dueq_runs_scheduled ON
dueq_runs (scheduled_at)``, and this migration then finds it there (docs/dispatch.md).
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_dueq_runs_scheduled", "dueq_runs", ["scheduled_at"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_dueq_runs_scheduled", table_name="dueq_runs")
