"""``dueq health``: one line and an exit code, meaning what a container health check needs.

A container's process dying ends the container, so a health check answers the other
question: *can this role do its work right now?*

* scheduler: the database answers and its dueq tables are at the newest revision, the
  broker answers (the leader publishes there), and *some* scheduler holds a live leader
  lease.  No leader means no run is being published, whichever container asks: unhealthy.
  With ``--scheduler-id`` (or ``DUEQ_SCHEDULER_ID``) the line says whether this one leads or
  stands by; both are healthy.
* worker: the broker answers and every queue the worker consumes (``DUEQ_QUEUES``) exists;
  with ``DUEQ_DATABASE_URL`` set (fleet-wide max_instances), the database answers too.

Each check connects once, with a short timeout, and never changes anything: no schema
upgrade, no queue declared.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import click
import sqlalchemy as sa

from dueq.producer.cli.common import given
from dueq.producer.leader import Lease, SqlLeaderLease
from dueq.producer.leader.dbclock import database_time
from dueq.producer.settings import SchedulerSettings, build_settings
from dueq.producer.sqlerrors import store_errors
from dueq.shared.broker import BrokerConnection, TopologyError
from dueq.shared.db import HEAD_REVISION, VERSION_TABLE, create_engine
from dueq.shared.errors import DueqError
from dueq.shared.settings import DueqSettings, ServiceUrl

__all__ = ["health_command"]

# A health check must answer well within the orchestrator's timeout (compose: 10 s).
_CONNECT_TIMEOUT_S = 5.0
_UNHEALTHY = 1


@click.command(name="health")
@click.option(
    "--role",
    type=click.Choice(["scheduler", "worker"]),
    required=True,
    help="scheduler = database at the newest schema, broker, a live leader; "
    "worker = broker and its queues (and the database, if it uses one).",
)
@click.option("--database-url", help="Job store URL. [env DUEQ_DATABASE_URL]")
@click.option("--broker-url", help="RabbitMQ URL. [env DUEQ_BROKER_URL]")
@click.option("--scheduler-id", help="Say whether this scheduler leads. [env DUEQ_SCHEDULER_ID]")
def health_command(role: str, **options: Any) -> None:
    """Check that a scheduler or a worker can do its work; exit 0 if so, else 1.

    \b
    Examples:
      dueq health --role scheduler     # database, schema, broker, and a live leader
      dueq health --role worker        # broker and the worker's queues
    """
    try:
        line = _check_scheduler(options) if role == "scheduler" else _check_worker(options)
    except DueqError as exc:  # ServiceUnavailable carries the URL with the password hidden
        click.echo(f"unhealthy: {exc}", err=True)
        sys.exit(_UNHEALTHY)
    click.echo(f"ok: {line}")


def _check_scheduler(options: dict[str, Any]) -> str:
    chosen = {k: options[k] for k in ("database_url", "broker_url")}
    settings = build_settings(None, None, given(chosen))
    where = _check_database(settings.database_url, settings.database_schema, need_tables=True)
    _check_broker(settings.broker_url)
    lease, now = _current_lease(settings)
    if lease is None or not lease.holder or lease.expires_at <= now:
        last = f" (the last, {lease.holder or 'released'}, expired)" if lease else ""
        raise DueqError(f"{where}, but no scheduler holds the leader lease{last}")
    line = f"{where}; broker reachable; leader {lease.holder} (epoch {lease.epoch})"
    me = options["scheduler_id"] or os.environ.get("DUEQ_SCHEDULER_ID")
    if me:
        line += f"; {me} is " + ("the leader" if lease.holder == me else "standing by")
    return line


def _check_worker(options: dict[str, Any]) -> str:
    settings = DueqSettings(**given({"broker_url": options["broker_url"]}))
    queues = _worker_queues()
    topology = settings.topology()
    names = [topology.run_queue(queue) for queue in queues]
    _check_broker(settings.broker_url, names)
    line = f"broker {settings.broker_url} reachable; queues {', '.join(names)} exist"
    database = options["database_url"] or os.environ.get("DUEQ_DATABASE_URL")
    if database:
        line += "; " + _check_database(ServiceUrl(database), settings.database_schema)
    return line


def _worker_queues() -> list[str]:
    """The worker's queues, as ``dueq worker`` reads them (``DUEQ_QUEUES``, a JSON list)."""
    text = os.environ.get("DUEQ_QUEUES")
    if not text:
        return ["default"]
    try:
        queues = json.loads(text)
    except ValueError as exc:
        raise DueqError(f"DUEQ_QUEUES is not a JSON list: {exc}") from exc
    if not isinstance(queues, list) or not all(isinstance(q, str) for q in queues):
        raise DueqError("DUEQ_QUEUES must be a JSON list of queue names")
    return queues


def _check_database(url: ServiceUrl, schema: str | None, *, need_tables: bool = False) -> str:
    raw = url.reveal()
    engine = create_engine(raw, schema=schema, connect_args=_connect_args(raw))
    try:
        with store_errors(engine), engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            if need_tables:
                _check_revision(conn, url)
    finally:
        engine.dispose()
    return f"database {url} reachable"


def _check_revision(conn: sa.Connection, url: ServiceUrl) -> None:
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        raise DueqError(
            f"database {url} has no dueq tables yet; run `dueq db upgrade` or start a scheduler"
        )
    revision = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
    if revision != HEAD_REVISION:
        raise DueqError(
            f"database {url} is at dueq schema {revision}, this dueq needs {HEAD_REVISION}: "
            "run `dueq db upgrade`"
        )


def _current_lease(settings: SchedulerSettings) -> tuple[Lease | None, datetime]:
    """The stored lease, and "now" on the lease's clock (the database's, not this host's)."""
    raw = settings.database_url.reveal()
    engine = create_engine(raw, schema=settings.database_schema, connect_args=_connect_args(raw))
    try:
        lease = SqlLeaderLease(engine).current()
        with store_errors(engine), engine.connect() as conn:
            now = database_time(conn, datetime.now(UTC))
    finally:
        engine.dispose()
    return lease, now


def _check_broker(url: ServiceUrl, queues: Sequence[str] = ()) -> None:
    connection = BrokerConnection(url.reveal(), heartbeat=0, connect_timeout=_CONNECT_TIMEOUT_S)
    try:
        connection.connect()
        for queue in queues:
            try:
                connection.queue_depth(queue)
            except TopologyError as exc:
                raise DueqError(
                    f"queue {queue} does not exist on broker {url}: a worker declares its "
                    "queues when it starts"
                ) from exc
    finally:
        connection.close()


def _connect_args(url: str) -> dict[str, Any]:
    """Bound the connection attempt where the driver lets us (PostgreSQL)."""
    return {"connect_timeout": int(_CONNECT_TIMEOUT_S)} if url.startswith("postgresql") else {}
