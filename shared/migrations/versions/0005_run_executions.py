"""Run history keeps a row per execution: the primary key becomes (run_id, execution).

A run taken over after its worker died used to be one row, the second execution
overwriting the first; now the first stays (``lost``) beside the second.  Existing rows
become execution 1.  On PostgreSQL the column's constant default rewrites no row, but the
new primary key's index reads them all (minutes on a history of tens of millions); SQLite
copies the table.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TABLE = "dueq_runs"
# PostgreSQL's name for the key 0001 created; SQLite's key has no name.
_KEY = "dueq_runs_pkey"


def _execution(*, primary_key: bool = False) -> sa.Column[int]:
    return sa.Column(
        "execution",
        sa.Integer,
        nullable=False,
        server_default="1",
        autoincrement=False,
        primary_key=primary_key,
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.add_column(_TABLE, _execution())
        op.drop_constraint(_KEY, _TABLE, type_="primary")
        op.create_primary_key(_KEY, _TABLE, ["run_id", "execution"])
        return
    # The column is flagged and the key named: the copied table then agrees on its key.
    with op.batch_alter_table(_TABLE, recreate="always") as batch:
        batch.add_column(_execution(primary_key=True))
        batch.create_primary_key(_KEY, ["run_id", "execution"])


def downgrade() -> None:
    # Only the newest execution of each run fits the old key; older ones are dropped.
    op.execute(
        sa.text(
            f"DELETE FROM {_TABLE} WHERE execution < "
            f"(SELECT max(newer.execution) FROM {_TABLE} newer "
            f"WHERE newer.run_id = {_TABLE}.run_id)"
        )
    )
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(_KEY, _TABLE, type_="primary")
        op.create_primary_key(_KEY, _TABLE, ["run_id"])
        op.drop_column(_TABLE, "execution")
        return
    with op.batch_alter_table(_TABLE, recreate="always") as batch:
        batch.drop_constraint(_KEY, type_="primary")
        batch.create_primary_key(_KEY, ["run_id"])
        batch.drop_column("execution")
