"""``dueq health``: one line and an exit code for container health checks.

The scheduler role needs its database (it keeps the jobs and the leader lease there); the
worker role needs the broker (it consumes runs from it).  Each check connects once, with a
short timeout, and never changes anything: no schema upgrade, no queue declared.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from typing import Any

import click
import sqlalchemy as sa

from dueq.producer.cli.common import given
from dueq.producer.leader import SqlLeaderLease
from dueq.producer.leader.dbclock import database_time
from dueq.producer.settings import build_settings
from dueq.producer.sqlerrors import store_errors
from dueq.shared.broker import BrokerConnection
from dueq.shared.db import create_engine
from dueq.shared.errors import DueqError
from dueq.shared.settings import DueqSettings
from dueq.shared.tables import leader

__all__ = ["health_command"]

# A health check must answer well within the orchestrator's timeout (compose: 10 s).
_CONNECT_TIMEOUT_S = 5.0
_UNHEALTHY = 1


@click.command(name="health")
@click.option(
    "--role",
    type=click.Choice(["scheduler", "worker"]),
    required=True,
    help="What to check: scheduler = database and leader lease, worker = broker.",
)
@click.option("--database-url", help="Job store URL. [env DUEQ_DATABASE_URL]")
@click.option("--broker-url", help="RabbitMQ URL. [env DUEQ_BROKER_URL]")
@click.option("--scheduler-id", help="Say whether this scheduler leads. [env DUEQ_SCHEDULER_ID]")
def health_command(role: str, **options: Any) -> None:
    """Check that a scheduler or a worker can do its work; exit 0 if so, else 1.

    \b
    Examples:
      dueq health --role scheduler     # the database answers, the lease table is readable
      dueq health --role worker        # the broker accepts a connection
    """
    try:
        line = _check_scheduler(options) if role == "scheduler" else _check_worker(options)
    except DueqError as exc:  # ServiceUnavailable carries the URL with the password hidden
        click.echo(f"unhealthy: {exc}", err=True)
        sys.exit(_UNHEALTHY)
    click.echo(f"ok: {line}")


def _check_scheduler(options: dict[str, Any]) -> str:
    settings = build_settings(None, None, given({"database_url": options["database_url"]}))
    url = settings.database_url.reveal()
    engine = create_engine(url, schema=settings.database_schema, connect_args=_connect_args(url))
    try:
        with store_errors(engine):
            ready = sa.inspect(engine).has_table(leader.name)
        if not ready:
            raise DueqError(
                f"database {settings.database_url} has no dueq tables yet; "
                "run `dueq db upgrade` or start a scheduler"
            )
        lease = SqlLeaderLease(engine).current()
        with store_errors(engine), engine.connect() as conn:
            now = database_time(conn, datetime.now(UTC))  # the lease's clock, not this host's
    finally:
        engine.dispose()
    where = f"database {settings.database_url} reachable"
    if lease is None or not lease.holder or lease.expires_at <= now:
        return f"{where}; no leader at the moment"
    line = f"{where}; leader {lease.holder} (epoch {lease.epoch})"
    me = options["scheduler_id"] or os.environ.get("DUEQ_SCHEDULER_ID")
    if me:
        line += f"; {me} is " + ("the leader" if lease.holder == me else "standing by")
    return line


def _check_worker(options: dict[str, Any]) -> str:
    settings = DueqSettings(**given({"broker_url": options["broker_url"]}))
    connection = BrokerConnection(
        settings.broker_url.reveal(), heartbeat=0, connect_timeout=_CONNECT_TIMEOUT_S
    )
    try:
        connection.connect()
    finally:
        connection.close()
    return f"broker {settings.broker_url} reachable"


def _connect_args(url: str) -> dict[str, Any]:
    """Bound the connection attempt where the driver lets us (PostgreSQL)."""
    return {"connect_timeout": int(_CONNECT_TIMEOUT_S)} if url.startswith("postgresql") else {}
