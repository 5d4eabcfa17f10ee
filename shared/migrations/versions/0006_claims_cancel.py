"""A running claim can be asked to stop: ``overlap=cancel_other`` across the fleet.

The worker of a newer run writes its run id into the older claims of the job; each
worker's lease keeper reads it back while renewing its claims and cancels those runs where
its executor can.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dueq_claims") as batch:
        batch.add_column(sa.Column("cancelled_by", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dueq_claims") as batch:
        batch.drop_column("cancelled_by")
