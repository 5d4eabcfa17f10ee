"""What every client command shares: the service options and a scheduler client to act with.

A command that changes jobs builds a ``Scheduler`` that is never started: it writes the job
store, and after a change sends a wakeup so the running scheduler (in any process) re-plans
at once.  A command that only reads uses a ``StoreReader`` (``reader.py``) instead.
Options fall back to ``DUEQ_*`` environment variables, then to the defaults of
``SchedulerSettings``; only options given on the command line override them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click

from dueq.producer.settings import SchedulerSettings, build_settings

if TYPE_CHECKING:
    from dueq.producer.scheduler import Scheduler

__all__ = [
    "SERVICE_OPTION_NAMES",
    "given",
    "json_option",
    "scheduler_client",
    "service_options",
    "settings_from",
]

F = TypeVar("F", bound=Callable[..., Any])

# The options ``service_options`` adds; a command passes exactly these to ``settings_from``.
SERVICE_OPTION_NAMES = ("database_url", "broker_url", "prefix", "queue_type", "timezone")


def given(options: dict[str, Any]) -> dict[str, Any]:
    """Only the options given on the command line, so the rest come from DUEQ_* or defaults."""
    return {key: value for key, value in options.items() if value is not None}


def service_options(func: F) -> F:
    """Add --database-url, --broker-url, --prefix, --queue-type and --timezone to a command."""
    decorators = [
        click.option(
            "--database-url",
            help="SQLAlchemy URL of the job store. [env DUEQ_DATABASE_URL; "
            "default: sqlite:///dueq.sqlite3]",
        ),
        click.option(
            "--broker-url",
            help="RabbitMQ URL (or memory://), to wake the running scheduler after a change. "
            "[env DUEQ_BROKER_URL; default: amqp://guest:guest@127.0.0.1:5672//]",
        ),
        click.option("--prefix", help="Prefix of exchange and queue names. [env DUEQ_PREFIX]"),
        click.option(
            "--queue-type",
            type=click.Choice(["quorum", "classic"]),
            help="RabbitMQ queue type. [env DUEQ_QUEUE_TYPE; default: quorum]",
        ),
        click.option(
            "--timezone",
            help="Zone that times are shown in and naive times are read in. "
            "[env DUEQ_TIMEZONE; default: the local zone]",
        ),
    ]
    for decorate in reversed(decorators):
        func = decorate(func)
    return func


def json_option(func: F) -> F:
    """Add --json: machine-readable output instead of a table."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON, not a table.")(func)


def settings_from(options: dict[str, Any]) -> SchedulerSettings:
    """Settings from the service options a command was given (and the environment)."""
    chosen = {name: options.get(name) for name in SERVICE_OPTION_NAMES}
    return build_settings(None, None, given(chosen))


@contextmanager
def scheduler_client(options: dict[str, Any]) -> Iterator[Scheduler]:
    """A scheduler client (never started) for the command; its connections close after."""
    # Imported here: the commands that only read share this module and never need it.
    from dueq.producer.scheduler import BackgroundScheduler

    scheduler = BackgroundScheduler(settings_from(options))
    try:
        yield scheduler
    finally:
        scheduler.shutdown()
