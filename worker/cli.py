"""The worker's commands (mounted by ``dueq.cli``): ``dueq worker``.

Each option falls back to its ``DUEQ_*`` environment variable (``--queue`` to
``DUEQ_QUEUES``, a JSON list), then to the default.  SIGTERM and SIGINT are handled here,
and only here: they ask the worker to drain and stop.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import click

from dueq.worker.settings import ExecutorKind, WorkerSettings
from dueq.worker.supervisor import Supervisor
from dueq.worker.worker import Worker

__all__ = ["worker_command"]


@click.command(name="worker")
@click.option(
    "--queue",
    "-Q",
    "queues",
    multiple=True,
    help="Job queue to consume; repeat for several. [env DUEQ_QUEUES; default: default]",
)
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(1, 10_000),
    default=None,
    help="Runs executed at once. [env DUEQ_CONCURRENCY; "
    "default: 8 threads, one process per CPU, 64 for asyncio]",
)
@click.option(
    "--prefetch-multiplier",
    type=click.IntRange(1, 16),
    default=None,
    help="Runs prefetched per slot, so the next runs are in hand while outcomes are "
    "confirmed and claims committed; 1 for jobs near RabbitMQ's consumer ack timeout. "
    "[env DUEQ_PREFETCH_MULTIPLIER; default: 4, 16 with --database-url]",
)
@click.option(
    "--processes",
    type=click.IntRange(1, 256),
    default=None,
    help="Worker processes under one supervisor, each with its own connection and worker "
    "id (<worker-id>-1..N); a crashed one is restarted, SIGTERM drains them all. One "
    "process uses about one core. [env DUEQ_PROCESSES; default: 1]",
)
@click.option(
    "--executor",
    type=click.Choice([k.value for k in ExecutorKind]),
    default=None,
    help="Where jobs run; async def jobs need asyncio. [env DUEQ_EXECUTOR; default: thread]",
)
@click.option(
    "--import",
    "-i",
    "imports",
    multiple=True,
    metavar="MODULE",
    help="Module whose @job functions, and whose module:qualname functions (it "
    "and its submodules), may run; repeat for several. Nothing else is ever "
    "imported. [env DUEQ_IMPORTS]",
)
@click.option(
    "--app-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=Path("."),
    envvar="DUEQ_APP_DIR",
    show_default=True,
    help="Folder searched first for the --import modules, as Celery workers search the "
    "current one. [env DUEQ_APP_DIR]",
)
@click.option(
    "--broker-url",
    default=None,
    help="RabbitMQ URL, or memory://. "
    "[env DUEQ_BROKER_URL; default: amqp://guest:guest@127.0.0.1:5672//]",
)
@click.option(
    "--database-url",
    default=None,
    help="SQL database shared with the scheduler: makes max_instances and "
    "dedupe fleet-wide and lets jobs outlive RabbitMQ's consumer ack timeout. "
    "[env DUEQ_DATABASE_URL; default: none, limits per process]",
)
@click.option(
    "--worker-id",
    default=None,
    help="Name in events and claims. [env DUEQ_WORKER_ID; default: host-pid-random]",
)
@click.option(
    "--shutdown-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Seconds running jobs get to finish after SIGTERM. "
    "[env DUEQ_SHUTDOWN_TIMEOUT; default: 30]",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve Prometheus metrics on this port. [env DUEQ_METRICS_PORT; default: off; "
    "DUEQ_METRICS_HOST, default 127.0.0.1]",
)
@click.option(
    "--prefix",
    default=None,
    help="Name prefix of exchanges and queues. [env DUEQ_PREFIX; default: dueq]",
)
def worker_command(**options: Any) -> None:
    """Consume job runs and execute the allowed functions.

    Checks each run in order: valid message, not a duplicate, not later than its
    misfire grace time, a free max_instances slot; then runs it and reports the outcome
    on the run's reply queue. SIGTERM or Ctrl-C stops taking runs, lets running jobs
    finish (up to --shutdown-timeout) and hands unstarted runs back.

    \b
    Example:
      dueq worker --import myapp.jobs --queue default --queue reports \\
                  --concurrency 16 --database-url postgresql+psycopg://dueq@db/dueq \\
                  --processes 2
    """
    _importable(options.pop("app_dir"))
    settings = WorkerSettings(**_given(options))
    runner: Worker | Supervisor
    if settings.processes > 1:
        runner = Supervisor(settings, settings.processes)
    else:
        runner = Worker(settings, owns_process=True)
    _stop_on_signals(runner)
    runner.run()


def _importable(app_dir: Path) -> None:
    """Put the app folder first on the import path (the ``dueq`` script's own folder is
    there instead of the current one); process-pool children inherit the path."""
    folder = str(app_dir.resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)


def _given(options: dict[str, Any]) -> dict[str, Any]:
    """Only the options given on the command line, so the rest come from DUEQ_* or defaults."""
    names = {"queues": "queues", "imports": "imports"}
    given = {names.get(k, k): v for k, v in options.items() if v not in (None, ())}
    if "shutdown_timeout" in given:
        given["shutdown_timeout"] = float(given["shutdown_timeout"])
    return given


def _stop_on_signals(worker: Worker | Supervisor) -> None:
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be installed from the main thread

    def stop(signum: int, _frame: FrameType | None) -> None:
        click.echo(f"{signal.Signals(signum).name}: stopping (running jobs may finish)", err=True)
        worker.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
