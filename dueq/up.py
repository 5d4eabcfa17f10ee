"""``dueq up --app MODULE``: scheduler and worker in one process, printing every event."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, TextIO, cast

import click
from rich.console import Console

from dueq.embedded import EMBEDDED_BROKER_URL, Embedded, load_app
from dueq.printer import PRINTED_EVENTS, EventPrinter
from dueq.safestream import SafeStream
from dueq.shared.errors import ConfigError
from dueq.shared.redact import redact_url
from dueq.shared.settings import DEFAULT_DATABASE_URL

__all__ = ["DASHBOARD_PORT", "up_command"]

# The dashboard's port in `dueq up` (and `make run`); `dueq dashboard` uses the same.
DASHBOARD_PORT = 8700

# The services' own INFO lines (leader elected, worker online, one per run...) would
# drown the event lines a person is watching for; they stay available with
# `dueq --log-level INFO up` (or DUEQ_LOG_LEVEL).
_QUIET_LOGGERS = ("dueq.producer", "dueq.worker", "dueq.shared")


@click.command(name="up")
@click.option(
    "--app",
    "app_spec",
    required=True,
    metavar="MODULE[:FUNCTION]",
    help="Module with your @job functions and a schedule(scheduler) function (or FUNCTION).",
)
@click.option(
    "--database-url",
    envvar="DUEQ_DATABASE_URL",
    default=DEFAULT_DATABASE_URL,
    show_default=True,
    help="Job store; a SQLite file needs no server. [env DUEQ_DATABASE_URL]",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 10_000),
    help="Runs the worker executes at once. [default: 8]",
)
@click.option("--timezone", envvar="DUEQ_TIMEZONE", help="Zone of times shown and of triggers.")
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Stop cleanly after this many seconds (default: run until Ctrl-C).",
)
@click.option(
    "--dashboard-port",
    type=click.IntRange(0, 65535),
    default=DASHBOARD_PORT,
    show_default=True,
    envvar="DUEQ_DASHBOARD_PORT",
    help="Serve the dashboard on 127.0.0.1 at this port (0: any free port).",
)
@click.option("--no-dashboard", is_flag=True, help="Do not serve the dashboard.")
@click.option(
    "--app-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder searched first for the app module.",
)
@click.pass_context
def up_command(
    ctx: click.Context,
    app_spec: str,
    database_url: str,
    concurrency: int | None,
    timezone: str | None,
    duration: float | None,
    dashboard_port: int,
    no_dashboard: bool,
    app_dir: Path,
) -> None:
    """Run a scheduler and a worker in this process: no RabbitMQ, no database server.

    They talk over kombu's in-memory transport and keep jobs in a SQLite file. The app
    module registers its job functions with @job and adds its schedules in
    schedule(scheduler); the worker runs that module's functions only. Every run prints
    a line as it fires, returns, fails, is missed or hits max_instances. Ctrl-C stops.

    \b
    Examples:
      dueq up --app examples.demo
      dueq up --app myapp.jobs:setup --database-url sqlite:///dev.sqlite3 --duration 60
    """
    _quiet_services(ctx)
    sys.path.insert(0, str(app_dir.resolve()))
    out = Console(file=cast(TextIO, SafeStream(sys.stdout)), highlight=False, soft_wrap=True)
    app = load_app(app_spec)
    printer = EventPrinter(out)
    embedded = Embedded(
        app,
        database_url=database_url,
        listener=printer,
        listener_mask=PRINTED_EVENTS,
        concurrency=concurrency,
        timezone=timezone,
    )
    stop = threading.Event()
    with _stop_on_signals(stop, out):
        embedded.start()
        try:
            _print_start(out, embedded, app.module, database_url)
            dashboard = None if no_dashboard else _start_dashboard(out, embedded, dashboard_port)
            stop.wait(duration)
            out.print("stopping: running jobs finish first ...")
            if dashboard is not None:
                dashboard.stop()
        finally:  # whatever happened to the output, the worker's threads must end
            embedded.stop()
    out.print(f"stopped. {printer.summary()}")


def _start_dashboard(out: Console, embedded: Embedded, port: int) -> Any:
    """The dashboard over the embedded scheduler, or None (said why) if it cannot run.

    A missing web stack or a port in use must not stop the demo: it runs without.
    """
    try:
        from dueq.producer.dashboard.server import DashboardServer
        from dueq.producer.dashboard.views import Dashboard
        from dueq.producer.deadletters import DeadLetters
    except ImportError as exc:
        out.print(f"no dashboard: pip install 'dueq[dashboard]' ({exc})")
        return None
    scheduler = embedded.scheduler
    dead = DeadLetters(EMBEDDED_BROKER_URL, scheduler.settings.topology())
    try:
        server = DashboardServer(Dashboard(scheduler, dead), host="127.0.0.1", port=port)
        server.start()
    except (ConfigError, RuntimeError):
        out.print(f"no dashboard: port {port} is in use (choose one with --dashboard-port)")
        return None
    out.print(f"dashboard: [bold]{server.url}[/]")
    return server


def _quiet_services(ctx: click.Context) -> None:
    parent = ctx.parent
    if parent is None or parent.get_parameter_source("log_level") not in (
        click.core.ParameterSource.DEFAULT,
        None,
    ):
        return  # the user chose a log level (--log-level or DUEQ_LOG_LEVEL): respect it
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    # Except who leads: after an unclean exit, the wait for the old lease is explained.
    logging.getLogger("dueq.producer.leadership").setLevel(logging.INFO)


def _print_start(out: Console, embedded: Embedded, module: str, database_url: str) -> None:
    scheduler = embedded.scheduler
    out.print(
        f"dueq up: app [bold]{module}[/], database {redact_url(database_url)}, "
        f"worker x{embedded.worker.settings.concurrency}; Ctrl-C stops"
    )
    for job in scheduler.get_jobs():
        # markup=False: "cron[minute='*/5']" must keep its brackets
        out.print(f"  scheduled {job.id}: {job.describe(scheduler.settings.zone)}", markup=False)


@contextmanager
def _stop_on_signals(stop: threading.Event, out: Console) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop``; the previous handlers come back afterwards."""
    if threading.current_thread() is not threading.main_thread():
        yield  # handlers can only be installed from the main thread (tests call us there)
        return

    def handle(signum: int, _frame: FrameType | None) -> None:
        out.print(f"{signal.Signals(signum).name} received")
        stop.set()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
