"""The Alembic migrations build exactly the tables shared.tables describes."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from dueq.shared.db import VERSION_TABLE, create_engine, upgrade_schema
from dueq.shared.tables import metadata

VERSION_OPTS = {"version_table": VERSION_TABLE}


def test_migrated_schema_matches_the_table_definitions(database_url: str) -> None:
    engine = create_engine(database_url)
    upgrade_schema(engine)
    with engine.connect() as connection:
        differences = compare_metadata(
            MigrationContext.configure(connection, opts=VERSION_OPTS), metadata
        )
    engine.dispose()
    assert differences == []


def test_upgrading_twice_changes_nothing(database_url: str) -> None:
    engine = create_engine(database_url)
    upgrade_schema(engine)
    upgrade_schema(engine)
    with engine.connect() as connection:
        assert (
            MigrationContext.configure(connection, opts=VERSION_OPTS).get_current_revision()
            == "0008"
        )
    engine.dispose()
