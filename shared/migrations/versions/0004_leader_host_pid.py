"""Leader lease names its holder's host and pid.

A standby on the same host can then tell that a holder which did not release its lease
is gone, and take over at once.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dueq_leader") as batch:
        batch.add_column(sa.Column("holder_host", sa.String(255), nullable=True))
        batch.add_column(sa.Column("holder_pid", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dueq_leader") as batch:
        batch.drop_column("holder_pid")
        batch.drop_column("holder_host")
