"""The all-in-one mode behind ``dueq up``: a scheduler and a worker in one process.

Both talk through kombu's in-memory transport and keep jobs and history in a SQLite file,
so trying dueq needs no server at all.  The *app* is one importable module: it registers
its job functions (``@job``) and has a function that adds its schedules::

    # myapp.py
    from dueq import job

    @job("myapp.hello")
    def hello(name: str) -> str:
        return f"hello {name}"

    def schedule(scheduler):
        scheduler.add_job(hello, "interval", seconds=5, args=["world"],
                          id="hello", replace_existing=True)

``dueq up --app myapp`` runs it; the worker may run functions of that module and nothing
else.  Runs still queued in memory when the process stops are gone (their history stays
``submitted``): the embedded mode is for development and demos, not for production.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dueq.producer import BackgroundScheduler, Scheduler
from dueq.producer.listeners import Listener
from dueq.shared.broker import BrokerConnection, TopologyError
from dueq.shared.errors import ConfigError
from dueq.worker import Worker, WorkerSettings

__all__ = ["DEFAULT_SCHEDULE_FUNCTION", "EMBEDDED_BROKER_URL", "App", "Embedded", "load_app"]

# kombu's in-memory transport: queues live in this process only.
EMBEDDED_BROKER_URL = "memory://"
# The app function ``dueq up --app MODULE`` calls when no ``:FUNCTION`` is given.
DEFAULT_SCHEDULE_FUNCTION = "schedule"
# At stop, how long the scheduler may take to consume the worker's last reports, and how
# often the events queue is looked at meanwhile (the memory transport polls every 10 ms).
_REPORTS_TIMEOUT_S = 3.0
_REPORTS_POLL_S = 0.02


@dataclass(frozen=True, kw_only=True)
class App:
    """The module whose jobs the worker may run, and the function that adds its schedules."""

    module: str
    schedule: Callable[[Scheduler], Any]


def load_app(spec: str) -> App:
    """Import ``MODULE`` or ``MODULE:FUNCTION`` (default function ``schedule``)."""
    module_name, _, function = spec.partition(":")
    function = function or DEFAULT_SCHEDULE_FUNCTION
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import the app {module_name!r}: {exc}") from exc
    schedule = getattr(module, function, None)
    if not callable(schedule):
        raise ConfigError(
            f"the app {module_name!r} has no function {function}(scheduler) that adds its jobs"
        )
    return App(module=module_name, schedule=schedule)


class Embedded:
    """Scheduler and worker of one app, started and stopped together."""

    def __init__(
        self,
        app: App,
        *,
        database_url: str,
        listener: Listener,
        listener_mask: int,
        concurrency: int | None = None,
        timezone: str | None = None,
        broker_url: str = EMBEDDED_BROKER_URL,
        prefix: str = "dueq",
    ) -> None:
        options: dict[str, Any] = {"timezone": timezone} if timezone else {}
        self.scheduler = BackgroundScheduler(
            database_url=database_url,
            broker_url=broker_url,
            queue_type="classic",
            prefix=prefix,
            **options,
        )
        self.scheduler.add_listener(listener, listener_mask)
        self.worker = Worker(
            WorkerSettings(
                broker_url=broker_url,
                queue_type="classic",
                prefix=prefix,
                imports=(app.module,),
                concurrency=concurrency or 0,
            )
        )
        self._app = app
        self._broker_url = broker_url

    def start(self) -> None:
        """Start the worker, add the app's schedules, then start the scheduler."""
        self.worker.start()
        try:
            self._app.schedule(self.scheduler)
            self.scheduler.start()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the worker first (running jobs finish and report), then the scheduler.

        In between, the scheduler gets a moment to take the last reports off the events
        queue, so the outcome of a job that finished during the stop is still printed.
        """
        try:
            self.worker.stop()
            self._wait_for_reports()
        finally:
            self.scheduler.shutdown()

    def _wait_for_reports(self) -> None:
        events_queue = self.scheduler.settings.topology().events_queue
        deadline = time.monotonic() + _REPORTS_TIMEOUT_S
        with BrokerConnection(self._broker_url) as connection:
            while time.monotonic() < deadline:
                try:
                    if connection.queue_depth(events_queue) == 0:
                        return
                except TopologyError:
                    return  # never declared: nothing was reported
                time.sleep(_REPORTS_POLL_S)
