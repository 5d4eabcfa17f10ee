"""``dueq db``: dueq's database schema — upgrade, current, history, downgrade.

dueq keeps its Alembic revision in its own version table (``dueq_alembic_version``), so
these commands never touch an application's own ``alembic_version``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from sqlalchemy.engine import Engine

from dueq.producer.cli.common import given
from dueq.producer.settings import SchedulerSettings, build_settings
from dueq.shared.db import VERSION_TABLE, create_engine, downgrade_schema, migrating, upgrade_schema

__all__ = ["db_group"]

F = TypeVar("F", bound=Callable[..., Any])


def _database_options(func: F) -> F:
    func = click.option(
        "--database-schema",
        help="PostgreSQL schema holding dueq's tables. [env DUEQ_DATABASE_SCHEMA]",
    )(func)
    return click.option(
        "--database-url", help="SQLAlchemy URL of the job store. [env DUEQ_DATABASE_URL]"
    )(func)


@contextmanager
def _engine(options: dict[str, Any]) -> Iterator[tuple[Engine, SchedulerSettings]]:
    settings = build_settings(None, None, given(options))
    engine = create_engine(settings.database_url.reveal(), schema=settings.database_schema)
    try:
        yield engine, settings
    finally:
        engine.dispose()


def _where(settings: SchedulerSettings) -> str:
    schema = f" (schema {settings.database_schema})" if settings.database_schema else ""
    return f"database {settings.database_url}{schema}"


@click.group(name="db")
def db_group() -> None:
    """Manage the job store's database schema.

    \b
    Example:
      dueq db upgrade --database-url postgresql+psycopg://postgres@db/dueq
    """


@db_group.command(name="upgrade")
@_database_options
def db_upgrade(**options: Any) -> None:
    """Create or upgrade dueq's tables to the newest schema (safe to run concurrently).

    \b
    Example:
      dueq db upgrade --database-url postgresql+psycopg://postgres@db/dueq
    """
    with _engine(options) as (engine, settings):
        upgrade_schema(engine)
    click.echo(f"{_where(settings)} is at the newest schema")


@db_group.command(name="current")
@_database_options
def db_current(**options: Any) -> None:
    """Print the revision dueq's tables are at ("none" before the first upgrade).

    \b
    Example:
      dueq db current --database-url postgresql+psycopg://postgres@db/dueq
    """
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    with _engine(options) as (engine, settings), migrating(engine) as config:
        connection = config.attributes["connection"]
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        current = context.get_current_revision()
        head = ScriptDirectory.from_config(config).get_current_head()
    state = "newest" if current == head else f"newest is {head}; run `dueq db upgrade`"
    click.echo(f"{_where(settings)}: revision {current or 'none'} ({state})")


@db_group.command(name="history")
def db_history() -> None:
    """List dueq's schema revisions, newest first.

    \b
    Example:
      dueq db history
    """
    from alembic.script import ScriptDirectory

    from dueq.shared.db import MIGRATIONS

    for script in ScriptDirectory(str(MIGRATIONS)).walk_revisions():
        summary = " ".join((script.doc or "").split())  # one line per revision
        click.echo(f"{script.revision}  {summary}")


@db_group.command(name="downgrade")
@click.argument("revision")
@_database_options
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def db_downgrade(revision: str, yes: bool, **options: Any) -> None:
    """Take dueq's tables back to REVISION; "base" drops every dueq table and its data.

    \b
    Example:
      dueq db downgrade 0001 --database-url postgresql+psycopg://postgres@db/dueq
    """
    with _engine(options) as (engine, settings):
        if not yes:
            click.confirm(f"downgrade {_where(settings)} to {revision}?", abort=True)
        downgrade_schema(engine, revision)
    click.echo(f"{_where(settings)} is at revision {revision}")
