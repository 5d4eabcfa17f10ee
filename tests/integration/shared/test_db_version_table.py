"""dueq's schema lives beside an application's own Alembic history, never inside it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest
import sqlalchemy as sa

from dueq.shared.db import LEGACY_VERSION_TABLE, VERSION_TABLE, create_engine, upgrade_schema

HEAD = "0008"


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.engine.Engine]:
    made = create_engine(database_url)
    yield made
    made.dispose()


def _versions(engine: sa.engine.Engine, table: str) -> list[str]:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(table):
            return []
        return list(conn.execute(sa.text(f"SELECT version_num FROM {table}")).scalars())


def _own_alembic_app(engine: sa.engine.Engine, revision: str) -> None:
    """What an application using Alembic for its own tables has in the database."""
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {LEGACY_VERSION_TABLE} (version_num VARCHAR(32))"))
        conn.execute(sa.text(f"INSERT INTO {LEGACY_VERSION_TABLE} VALUES ('{revision}')"))


def test_upgrade_leaves_the_applications_alembic_version_alone(
    engine: sa.engine.Engine,
) -> None:
    _own_alembic_app(engine, "a1b2c3d4e5f6")
    upgrade_schema(engine)
    assert _versions(engine, LEGACY_VERSION_TABLE) == ["a1b2c3d4e5f6"]
    assert _versions(engine, VERSION_TABLE) == [HEAD]
    assert sa.inspect(engine).has_table("dueq_jobs")


def test_a_database_migrated_by_an_older_dueq_is_carried_over(
    engine: sa.engine.Engine,
) -> None:
    upgrade_schema(engine, "0001")
    with engine.begin() as conn:  # how dueq 0.1 left it: its revision in alembic_version
        conn.execute(sa.text(f"ALTER TABLE {VERSION_TABLE} RENAME TO {LEGACY_VERSION_TABLE}"))
        conn.execute(
            sa.text(
                "INSERT INTO dueq_leader (name, holder, epoch, expires_at, renewed_at) "
                "VALUES ('x', 'h', 7, :t, :t)"
            ),
            {"t": datetime(2026, 1, 1)},
        )
    upgrade_schema(engine)
    assert _versions(engine, VERSION_TABLE) == [HEAD]
    assert not sa.inspect(engine).has_table(LEGACY_VERSION_TABLE)
    with engine.connect() as conn:  # nothing was recreated: the data is still there
        assert conn.execute(sa.text("SELECT epoch FROM dueq_leader")).scalar_one() == 7


def test_a_shared_alembic_version_keeps_the_applications_row(
    engine: sa.engine.Engine,
) -> None:
    upgrade_schema(engine)
    with engine.begin() as conn:
        conn.execute(sa.text(f"ALTER TABLE {VERSION_TABLE} RENAME TO {LEGACY_VERSION_TABLE}"))
        conn.execute(sa.text(f"INSERT INTO {LEGACY_VERSION_TABLE} VALUES ('a1b2c3d4e5f6')"))
    upgrade_schema(engine)
    assert _versions(engine, VERSION_TABLE) == [HEAD]
    assert _versions(engine, LEGACY_VERSION_TABLE) == ["a1b2c3d4e5f6"]


def test_the_schema_setting_puts_every_table_in_that_schema(pg_schema_url: str) -> None:
    # The URL selects a schema of this test's own (the database is shared by others):
    # the setting must win over it.
    default_schema = pg_schema_url.rsplit("%3D", 1)[1]
    schema = f"dueq_{uuid.uuid4().hex[:10]}"
    engine = create_engine(pg_schema_url, schema=schema)
    try:
        upgrade_schema(engine)  # creates the schema too
        inspector = sa.inspect(engine)
        assert "dueq_jobs" in inspector.get_table_names(schema=schema)
        assert VERSION_TABLE in inspector.get_table_names(schema=schema)
        assert inspector.get_table_names(schema=default_schema) == []
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def test_the_head_constant_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    from dueq.shared.db import HEAD_REVISION, MIGRATIONS

    assert ScriptDirectory(str(MIGRATIONS)).get_current_head() == HEAD_REVISION == HEAD


def test_run_history_from_before_executions_becomes_each_runs_first_execution(
    engine: sa.engine.Engine,
) -> None:
    upgrade_schema(engine, "0004")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO dueq_runs (run_id, job_id, scheduled_at, status, redelivered, "
                "updated_at) VALUES ('r1', 'j', :t, 'executed', false, :t)"
            ),
            {"t": datetime(2026, 1, 1)},
        )
    upgrade_schema(engine)
    with engine.begin() as conn:
        rows = conn.execute(sa.text("SELECT run_id, execution, status FROM dueq_runs")).all()
        assert [tuple(row) for row in rows] == [("r1", 1, "executed")]
        conn.execute(  # the new key takes a second execution of the same run
            sa.text(
                "INSERT INTO dueq_runs (run_id, execution, job_id, scheduled_at, status, "
                "redelivered, updated_at) VALUES ('r1', 2, 'j', :t, 'executed', true, :t)"
            ),
            {"t": datetime(2026, 1, 1)},
        )
    assert sa.inspect(engine).get_pk_constraint("dueq_runs")["constrained_columns"] == [
        "run_id",
        "execution",
    ]
