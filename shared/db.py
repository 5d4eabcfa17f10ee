"""Engines and schema upgrades for the SQL database both sides share.

``create_engine`` turns driver errors into ``StoreUnavailable`` with the password
redacted; ``upgrade_schema`` brings the schema to the newest Alembic revision and is safe
to call from several processes starting at once (PostgreSQL serializes them with an
advisory lock).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

from dueq.shared.errors import StoreUnavailable

__all__ = ["create_engine", "is_sqlite", "upgrade_schema"]

_MIGRATIONS = Path(__file__).parent / "migrations"

# Any number will do as long as it is fixed: every dueq process locks the same one while
# migrating, so two processes starting together never both run CREATE TABLE.
_MIGRATION_LOCK_ID = 0x64756571  # "dueq"

# SQLite waits this long for another connection's write lock instead of failing at once
# ("database is locked"): the scheduler and the CLI write to one file concurrently.
_SQLITE_BUSY_TIMEOUT_MS = 10_000


def is_sqlite(engine: Engine) -> bool:
    """True for SQLite engines, which need a few portability workarounds."""
    return engine.dialect.name == "sqlite"


def create_engine(url: str, *, pre_ping: bool = True, **kwargs: Any) -> Engine:
    """An engine for ``url`` with dueq's connection settings.

    SQLite gets WAL journaling (readers never block the writer) and a busy timeout.
    By default every checkout pre-pings its pooled connection (a round trip) so a
    restarted database is noticed before a statement fails; ``pre_ping=False`` is for
    callers that retry a failed transaction anyway (a worker's claim batches), where a
    lost connection costs one failed attempt and SQLAlchemy replaces the pool's stale
    connections on the disconnect error.
    """
    try:
        engine = sa.create_engine(url, pool_pre_ping=pre_ping, **kwargs)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise StoreUnavailable(url, f"cannot create an engine: {exc}") from exc
    if is_sqlite(engine):
        sa.event.listen(engine, "connect", _configure_sqlite)
    return engine


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def upgrade_schema(engine: Engine, revision: str = "head") -> None:
    """Create or upgrade dueq's tables to ``revision`` (idempotent)."""
    try:
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID}
                )
            config = _alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except sa.exc.OperationalError as exc:
        raise StoreUnavailable(
            engine.url.render_as_string(hide_password=False), _first_line(exc)
        ) from exc


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
