"""``dueq worker --processes N``: N worker processes under one supervisor.

Python runs one thread at a time per process, so one worker process uses about one core;
like ``celery worker``, one command per machine uses them all.  Each child is a complete
``Worker`` with its own broker connection, database pool and worker id (``<id>-1`` ..
``<id>-N``).  A child that dies (killed, crashed) is reported in the log and by a
``worker_offline`` event in its name (reason ``crashed: ...``), and started again after a
backoff that grows while it keeps dying.  SIGTERM or SIGINT is passed to every child, which
drains as a single worker does; the supervisor waits for all of them.  With
``--metrics-port`` the supervisor serves the sum of its children's metrics on that port
(``start_supervised_metrics``).

Children are started with the ``spawn`` method: nothing of the supervisor (sockets, locks,
threads) is inherited, so a child is exactly what ``dueq worker`` runs.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

from dueq.shared.broker import BrokerConnection
from dueq.shared.errors import DueqError
from dueq.shared.metrics import start_supervised_metrics
from dueq.worker.reporter import Identity, Reporter
from dueq.worker.settings import WorkerSettings

__all__ = ["Supervisor", "child_settings"]

log = logging.getLogger(__name__)

# Restart backoff: a child that dies at once (a bad job module, a service down) is
# restarted after 1 s, then 2, 4 ... up to 30 s, so a crash loop costs little; a child
# that ran this long before dying starts again after the shortest wait.
_MIN_RESTART_S, _MAX_RESTART_S = 1.0, 30.0
_STABLE_AFTER_S = 60.0
# How often the supervisor looks at its children besides their exit (a stop request).
_POLL_S = 0.2
# Extra time a child gets, beyond its shutdown timeout, to say offline and exit.
_EXIT_MARGIN_S = 30.0


def child_settings(settings: WorkerSettings, number: int) -> WorkerSettings:
    """The settings of child ``number`` (1-based): the same, under ``<worker_id>-<n>``."""
    return settings.model_copy(update={"worker_id": f"{settings.worker_id}-{number}"})


def _run_child(settings: WorkerSettings, log_level: int) -> None:
    """A child's main: a worker that drains on SIGTERM/SIGINT (runs in the new process)."""
    from dueq.worker.worker import Worker  # imported here: only the child needs it

    logging.basicConfig(level=log_level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    worker = Worker(settings, owns_process=True)

    def stop(_signum: int, _frame: FrameType | None) -> None:
        worker.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.run()


@dataclass(slots=True)
class _Child:
    number: int
    settings: WorkerSettings
    process: BaseProcess | None = None
    started: float = 0.0
    restart_at: float = 0.0
    backoff: float = _MIN_RESTART_S
    restarts: int = 0


class Supervisor:
    """Keeps ``processes`` children running until ``request_stop``; then drains them."""

    def __init__(
        self,
        settings: WorkerSettings,
        processes: int,
        *,
        target: Callable[[WorkerSettings, int], None] = _run_child,
    ) -> None:
        self._settings = settings
        self._target = target
        self._context = multiprocessing.get_context("spawn")
        self._children = [_Child(n, child_settings(settings, n)) for n in range(1, processes + 1)]
        self._stop = threading.Event()
        self._metrics: Any = None  # the children's summed metrics (--metrics-port), if any

    def request_stop(self) -> None:
        """Ask every child to drain and stop (safe from signal handlers)."""
        self._stop.set()

    def run(self) -> None:
        """Start the children, restart any that die, and return once all have stopped."""
        log.info(
            "supervisor of %d worker processes (%s-1..%d)",
            len(self._children),
            self._settings.worker_id,
            len(self._children),
        )
        # Before any child starts: they inherit where to record, and this serves their sum.
        self._metrics = start_supervised_metrics(self._settings)
        try:
            while not self._stop.is_set():
                self._start_due()
                sentinels = [c.process.sentinel for c in self._children if c.process]
                wait(sentinels, timeout=_POLL_S)
                self._reap()
        finally:
            self._drain()
            if self._metrics is not None:
                self._metrics.close()

    def _start_due(self) -> None:
        now = time.monotonic()
        for child in self._children:
            if child.process is None and now >= child.restart_at:
                process = self._context.Process(
                    target=self._target,
                    args=(child.settings, logging.getLogger().getEffectiveLevel()),
                    name=f"dueq-worker-{child.number}",
                )
                process.start()
                child.process, child.started = process, now

    def _reap(self) -> None:
        """Notice children that exited while not asked to; schedule their restart."""
        now = time.monotonic()
        for child in self._children:
            process = child.process
            if process is None or process.is_alive() or self._stop.is_set():
                continue
            child.process = None
            if self._metrics is not None and process.pid is not None:
                self._metrics.child_exited(process.pid)
            if now - child.started >= _STABLE_AFTER_S:
                child.backoff = _MIN_RESTART_S
            child.restart_at = now + child.backoff
            child.restarts += 1
            reason = f"crashed: exit code {process.exitcode}; restart {child.restarts}"
            log.error(
                "worker process %s (pid %s) exited with code %s; restarting it in %.0f s",
                child.settings.worker_id,
                process.pid,
                process.exitcode,
                child.backoff,
            )
            self._report(child, process.pid or 0, reason)
            child.backoff = min(child.backoff * 2, _MAX_RESTART_S)

    def _report(self, child: _Child, pid: int, reason: str) -> None:
        """Say ``worker_offline`` for a dead child, which could not say it itself."""
        settings = self._settings
        identity = Identity.of_this_process(child.settings.worker_id)
        identity = Identity(worker_id=identity.worker_id, hostname=identity.hostname, pid=pid)
        reporter = Reporter(identity, settings.topology(), lambda: datetime.now(UTC))
        message = reporter.message(reporter.offline(reason))
        try:
            with BrokerConnection(settings.broker_url.reveal(), name="dueq-supervisor") as conn:
                conn.publisher().publish_many([message])
        except DueqError as exc:  # the broker is away: the log line above is the report
            log.warning("cannot report the exit of %s: %s", child.settings.worker_id, exc)

    def _drain(self) -> None:
        """Pass the stop on to every child and wait for each to finish draining."""
        alive = [c.process for c in self._children if c.process and c.process.is_alive()]
        for process in alive:
            process.terminate()  # SIGTERM: the child drains as ``dueq worker`` does
        deadline = time.monotonic() + self._settings.shutdown_timeout.total_seconds()
        deadline += _EXIT_MARGIN_S
        for process in alive:
            process.join(max(deadline - time.monotonic(), 0.0))
            if process.is_alive():
                log.error("worker process %s did not stop in time; killing it", process.pid)
                process.kill()
                process.join()
        log.info("supervisor stopped")
