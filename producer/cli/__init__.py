"""The scheduler side's commands, mounted on ``dueq`` by ``dueq.cli``.

One module per command group: ``scheduler`` (the service, ``db upgrade``), ``jobs``,
``runs``, ``workers``, ``health``, ``dead`` and ``dashboard``; ``common``, ``specs`` and
``output`` hold what they share (service options, parsing of durations and triggers, printing).
"""

from __future__ import annotations

import click

from dueq.producer.cli.dashboard import dashboard_command
from dueq.producer.cli.dead import dead_group
from dueq.producer.cli.health import health_command
from dueq.producer.cli.jobs import jobs_group
from dueq.producer.cli.runs import runs_command
from dueq.producer.cli.scheduler import db_group, scheduler_command
from dueq.producer.cli.workers import workers_command

__all__ = ["COMMANDS"]

COMMANDS: list[click.Command] = [
    scheduler_command,
    db_group,
    jobs_group,
    runs_command,
    workers_command,
    health_command,
    dead_group,
    dashboard_command,
]
