"""``dueq workers``: the workers the scheduler has heard from, and whether they are alive.

Workers announce themselves (``worker_online``), send a heartbeat every
``heartbeat_interval`` and say goodbye (``worker_offline``); the leading scheduler writes
each into ``dueq_workers``.  A worker counts as live while it is online and was heard from
within ``_LIVE_HEARTBEATS`` heartbeat intervals.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from dueq.producer.cli.common import json_option, service_options
from dueq.producer.cli.output import console, format_time, print_json
from dueq.producer.cli.reader import store_reader
from dueq.producer.cli.specs import DURATION
from dueq.producer.history.base import WorkerRecord

__all__ = ["worker_state", "workers_command"]

# A worker missing this many heartbeats in a row is presumed dead: two may be lost to a
# busy scheduler or a reconnect without raising a false alarm.
_LIVE_HEARTBEATS = 3

_STYLE = {"live": "green", "offline": "dim", "lost": "bold red"}


def worker_state(record: WorkerRecord, now: datetime, heartbeat: timedelta) -> str:
    """``live``, ``offline`` (said goodbye) or ``lost`` (silent for too long)."""
    if record.status == "offline":
        return "offline"
    return "live" if now - record.last_seen_at <= heartbeat * _LIVE_HEARTBEATS else "lost"


@click.command(name="workers")
@click.option("--all", "show_all", is_flag=True, help="Also list offline and lost workers.")
@click.option(
    "--heartbeat-interval",
    type=DURATION,
    default="10s",
    show_default=True,
    envvar="DUEQ_HEARTBEAT_INTERVAL",
    help="The workers' heartbeat interval. [env DUEQ_HEARTBEAT_INTERVAL]",
)
@json_option
@service_options
def workers_command(
    show_all: bool, heartbeat_interval: timedelta, as_json: bool, **options: Any
) -> None:
    """List live workers (from their heartbeats): queues, concurrency, runs in progress.

    A worker is live while it was heard from within three heartbeat intervals. The
    scheduler records heartbeats, so a scheduler must be running to see workers.

    \b
    Examples:
      dueq workers
      dueq workers --all --json
    """
    now = datetime.now(UTC)
    with store_reader(options) as reader:
        records = reader.history.get_workers()
        zone = reader.settings.zone
    states = [(r, worker_state(r, now, heartbeat_interval)) for r in records]
    if not show_all:
        states = [(r, state) for r, state in states if state == "live"]
    if as_json:
        print_json([{**asdict(r), "state": state} for r, state in states])
    else:
        console().print(_table(states, zone))


def _table(states: list[tuple[WorkerRecord, str]], zone: tzinfo) -> Table:
    table = Table(title=f"{len(states)} worker(s)", title_justify="left")
    for header in ("worker", "host", "pid", "queues", "running", "state", "last seen"):
        table.add_column(header, overflow="fold")
    for record, state in states:
        table.add_row(
            record.worker_id,
            record.hostname,
            str(record.pid),
            ", ".join(record.queues),
            f"{record.running}/{record.concurrency}",
            Text(state, style=_STYLE[state]),
            format_time(record.last_seen_at, zone),
        )
    return table
