"""The ``dueq`` command: mounts each side's command group; the only module importing both.

Every dueq error ends the command with one line on stderr, never a traceback: exit code 2
when the user must change what they typed (bad settings, bad cron text), 1 when something
failed (a service is down, a job is unknown).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import click
from pydantic import ValidationError

from dueq import __version__
from dueq.producer.cli import COMMANDS as PRODUCER_COMMANDS
from dueq.shared.cli import COMMANDS as SHARED_COMMANDS
from dueq.shared.errors import ConfigError, DueqError
from dueq.shared.redact import redact_text
from dueq.up import up_command
from dueq.worker.cli import COMMANDS as WORKER_COMMANDS

__all__ = ["main"]

USAGE_ERROR = 2
FAILURE = 1


class DueqGroup(click.Group):
    """A click group that reports dueq errors as one clear line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            _fail(str(exc), USAGE_ERROR)
        except ValidationError as exc:  # settings built straight from options and DUEQ_*
            _fail(_one_line(exc), USAGE_ERROR)
        except ValueError as exc:  # InvalidTriggerError and friends: the input was wrong
            _fail(str(exc), USAGE_ERROR)
        except DueqError as exc:
            _fail(str(exc), FAILURE)


def _one_line(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in error["loc"]) or "settings"
        parts.append(f"{where}: {error['msg']}")
    return "invalid settings: " + "; ".join(parts)


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {redact_text(message)}", err=True)
    sys.exit(code)


@click.group(cls=DueqGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dueq")
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    help="Logging threshold for dueq's own messages.",
)
def main(log_level: str) -> None:
    """dueq: a scheduler that publishes due job runs to RabbitMQ for workers anywhere.

    \b
    Examples:
      dueq up --app examples.demo      # scheduler + worker in one process, no server
      dueq scheduler                   # the scheduler service
      dueq worker --import myapp.jobs  # a worker
    """
    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    if log_level.upper() != "DEBUG":
        # Alembic narrates every schema check at INFO; a CLI command should print its answer.
        logging.getLogger("alembic").setLevel(logging.WARNING)


for _command in (*SHARED_COMMANDS, *PRODUCER_COMMANDS, *WORKER_COMMANDS, up_command):
    main.add_command(_command)
