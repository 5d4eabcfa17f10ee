"""``column IN (a list)`` written so that SQLAlchemy compiles it once per statement.

An expanding ``IN`` is rendered anew for every length of the list: in a batch path (a
worker's claims, the events consumer's history writes) the rendering cost more CPU than
the rest of the batch.  PostgreSQL takes ``= ANY(:name)`` with the list as one array
parameter instead, the same statement whatever the batch size; other databases (SQLite) keep
the expanding ``IN`` (in process, its rendering is cheap beside the rest).
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = ["one_of"]


def one_of(column: sa.ColumnElement[str], name: str, *, postgres: bool) -> sa.ColumnElement[bool]:
    """``column`` is one of the strings bound as ``name`` (a list)."""
    if postgres:
        # Imported here: a command reading SQLite (``dueq runs``) never loads the dialect.
        from sqlalchemy.dialects import postgresql

        return column == sa.any_(sa.bindparam(name, type_=postgresql.ARRAY(sa.String)))
    return column.in_(sa.bindparam(name, expanding=True))
