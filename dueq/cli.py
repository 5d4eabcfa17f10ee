"""The ``dueq`` command: mounts each side's commands; the only module naming both sides.

Commands load lazily: ``COMMANDS`` names the module of each one, and a command's module
(with SQLAlchemy, kombu, pydantic behind it) is imported only when that command runs, so
``dueq --help`` and a quick ``dueq jobs list`` do not pay for what they do not use.
``--help`` still lists every command with its one-line summary, kept here beside the import
path (a unit test holds each summary equal to the command's own).

Every dueq error ends the command with one line on stderr, never a traceback: exit code 2
when the user must change what they typed (bad settings, bad cron text, a database that
does not exist), 1 when something failed (a service is down, a job is unknown).

Every command but the services (``SERVICES``) runs with the cyclic garbage collector
paused (``shared/collector.py``): it exits within a second, and walking the objects its
imports built cost a tenth of its time.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from dueq import __version__
from dueq.shared.collector import collector_paused
from dueq.shared.errors import ConfigError, DueqError
from dueq.shared.lazygroup import LazyCommand, LazyGroup
from dueq.shared.logs import LOG_FORMATS, LOG_LEVELS, configure_logging
from dueq.shared.redact import redact_text

__all__ = ["COMMANDS", "SERVICES", "LazyCommand", "main"]

USAGE_ERROR = 2
FAILURE = 1


COMMANDS: dict[str, LazyCommand] = {
    "up": LazyCommand(
        "dueq.up:up_command",
        "Run a scheduler and a worker in this process: no RabbitMQ, no database server.",
    ),
    "scheduler": LazyCommand(
        "dueq.producer.cli.scheduler:scheduler_command",
        "Run the scheduler service until SIGTERM or SIGINT.",
    ),
    "worker": LazyCommand(
        "dueq.worker.cli:worker_command", "Consume job runs and execute the allowed functions."
    ),
    "db": LazyCommand(
        "dueq.producer.cli.database:db_group", "Manage the job store's database schema."
    ),
    "jobs": LazyCommand(
        "dueq.producer.cli.jobs:jobs_group", "List and change scheduled jobs in the job store."
    ),
    "runs": LazyCommand(
        "dueq.producer.cli.runs:runs_command",
        "Show run history, newest first: what each run did, where and how long it took.",
    ),
    "workers": LazyCommand(
        "dueq.producer.cli.workers:workers_command",
        "List live workers (from their heartbeats): queues, concurrency, runs in progress.",
    ),
    "dead": LazyCommand(
        "dueq.producer.cli.dead:dead_group",
        "Dead-lettered messages: see why, send them back, or delete them.",
    ),
    "dashboard": LazyCommand(
        "dueq.producer.cli.dashboard:dashboard_command",
        "Serve the dashboard: jobs, a 24-hour forecast, runs, workers and dead letters.",
    ),
    "health": LazyCommand(
        "dueq.producer.cli.health:health_command",
        "Check that a scheduler or a worker can do its work; exit 0 if so, else 1.",
    ),
    "schema": LazyCommand(
        "dueq.shared.cli:schema", "Write the protocol's JSON Schemas, generated from the models."
    ),
    "next": LazyCommand(
        "dueq.shared.cli:next_fire_times", "Print the next fire times of a crontab EXPRESSION."
    ),
}


# The commands that run until they are stopped: they keep the garbage collector running.
SERVICES = frozenset({"up", "scheduler", "worker", "dashboard"})


class DueqGroup(LazyGroup):
    """The ``dueq`` group: lazy subcommands, and dueq errors reported as one clear line."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in SERVICES:
            # Paused before the command's module is imported, until the command has run.
            ctx.with_resource(collector_paused())
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            _fail(str(exc), USAGE_ERROR)
        except ValueError as exc:  # pydantic's ValidationError, InvalidTriggerError...
            _fail(_one_line(exc), USAGE_ERROR)
        except DueqError as exc:
            _fail(str(exc), FAILURE)


def _one_line(exc: ValueError) -> str:
    if type(exc).__name__ != "ValidationError":
        return str(exc)
    # pydantic's ValidationError (settings built from options and DUEQ_*), recognised by
    # name so that commands which never load pydantic do not import it here.
    errors: Any = getattr(exc, "errors")  # noqa: B009
    parts = []
    for error in errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"]) or "settings"
        parts.append(f"{where}: {error['msg']}")
    return "invalid settings: " + "; ".join(parts)


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {redact_text(message)}", err=True)
    sys.exit(code)


@click.group(cls=DueqGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dueq")
@click.option(
    "--log-level",
    envvar="DUEQ_LOG_LEVEL",
    default="INFO",
    show_default=True,
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    help="Logging threshold for dueq's own messages. [env DUEQ_LOG_LEVEL]",
)
@click.option(
    "--log-format",
    envvar="DUEQ_LOG_FORMAT",
    default="text",
    show_default=True,
    type=click.Choice(LOG_FORMATS, case_sensitive=False),
    help="text, or json: one object per line for log shippers. [env DUEQ_LOG_FORMAT]",
)
def main(log_level: str, log_format: str) -> None:
    """dueq: a scheduler that publishes due job runs to RabbitMQ for workers anywhere.

    \b
    Examples:
      dueq up --app examples.demo      # scheduler + worker in one process, no server
      dueq scheduler                   # the scheduler service
      dueq worker --import myapp.jobs  # a worker
    """
    configure_logging(log_level.upper(), log_format.lower())
