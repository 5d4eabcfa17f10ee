"""Alembic environment: dueq always passes an open connection in ``config.attributes``.

The revision lives in dueq's own version table, so an application that uses Alembic for
its own tables in the same database keeps ``alembic_version`` to itself.
"""

from __future__ import annotations

from alembic import context

from dueq.shared.db import VERSION_TABLE
from dueq.shared.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,
    version_table=VERSION_TABLE,
)
with context.begin_transaction():
    context.run_migrations()
