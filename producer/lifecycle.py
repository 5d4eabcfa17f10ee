"""Starting, pausing and stopping a ``Scheduler`` (APScheduler's states and events)."""

from __future__ import annotations

import threading
from abc import abstractmethod
from enum import IntEnum
from types import TracebackType
from typing import TYPE_CHECKING

from dueq.producer.backend import Backend
from dueq.producer.clock import Clock
from dueq.producer.listeners import (
    EVENT_SCHEDULER_PAUSED,
    EVENT_SCHEDULER_RESUMED,
    EVENT_SCHEDULER_SHUTDOWN,
    EVENT_SCHEDULER_STARTED,
    ListenerDispatcher,
    SchedulerEvent,
)
from dueq.producer.settings import SchedulerSettings
from dueq.shared.errors import DueqError
from dueq.shared.metrics import NO_METRICS, Metrics, start_metrics

if TYPE_CHECKING:
    from dueq.producer.loop import AfterPublish
    from dueq.producer.service import SchedulerService

__all__ = [
    "STATE_PAUSED",
    "STATE_RUNNING",
    "STATE_STOPPED",
    "Lifecycle",
    "SchedulerAlreadyRunningError",
    "SchedulerNotRunningError",
    "SchedulerState",
]

# How often a blocking start() looks up from its wait (signal handlers run in between).
_BLOCKING_POLL_S = 0.5


class SchedulerState(IntEnum):
    """APScheduler's ``scheduler.state`` values."""

    STOPPED = 0
    RUNNING = 1
    PAUSED = 2


STATE_STOPPED = SchedulerState.STOPPED
STATE_RUNNING = SchedulerState.RUNNING
STATE_PAUSED = SchedulerState.PAUSED


class SchedulerAlreadyRunningError(DueqError):
    """``start()`` was called on a running scheduler."""


class SchedulerNotRunningError(DueqError):
    """``pause()``/``resume()`` was called on a scheduler that is not running."""


class Lifecycle:
    """The state machine of a scheduler; ``Scheduler`` provides the stores and listeners."""

    _settings: SchedulerSettings
    _clock: Clock
    _after_publish: AfterPublish | None
    _dispatcher: ListenerDispatcher

    def __init__(self) -> None:
        self._service: SchedulerService | None = None
        self._metrics: Metrics = NO_METRICS
        self._state = SchedulerState.STOPPED
        self._stopped = threading.Event()

    @abstractmethod
    def _open(self) -> Backend:
        """The stores (opened on first use)."""

    @abstractmethod
    def _release(self) -> None:
        """Close the stores and the wakeup connection."""

    @property
    def state(self) -> SchedulerState:
        """STOPPED, RUNNING or PAUSED."""
        return self._state

    @property
    def running(self) -> bool:
        """True between ``start()`` and ``shutdown()`` (paused included)."""
        return self._state is not SchedulerState.STOPPED

    @property
    def metrics_port(self) -> int | None:
        """The port ``/metrics`` is served on while running (``--metrics-port``), or None."""
        return self._metrics.port

    @property
    def listening(self) -> bool:
        """True while this scheduler's listeners are connected to hear job outcomes.

        Every started scheduler hears every outcome reported while it is listening,
        whichever process leads.
        """
        return self._service is not None and self._service.listening

    @property
    def is_leader(self) -> bool:
        """True while this process holds the leader lease and publishes runs."""
        return self._service is not None and self._service.is_leader

    def start(self, paused: bool = False) -> None:
        """Start the service in background threads; ``paused`` holds publishing back."""
        if self._service is not None:
            if self._state is not SchedulerState.STOPPED:
                raise SchedulerAlreadyRunningError("the scheduler is already running")
            self._service.stop(wait=True)  # shut down without waiting earlier: finish that
            self._service = None
        # The service (and kombu behind it) loads only in a process that schedules.
        from dueq.producer.service import SchedulerService

        backend = self._open()
        self._stopped.clear()
        if self._metrics is NO_METRICS:
            self._metrics = start_metrics("scheduler", self._settings)
        self._service = SchedulerService(
            metrics=self._metrics,
            settings=self._settings,
            backend=backend,
            dispatcher=self._dispatcher,
            clock=self._clock,
            after_publish=self._after_publish,
        )
        self._service.start(paused=paused)
        self._state = SchedulerState.PAUSED if paused else SchedulerState.RUNNING
        self._dispatcher.dispatch(SchedulerEvent(code=EVENT_SCHEDULER_STARTED))

    def shutdown(self, wait: bool = True) -> None:
        """Stop the service; with ``wait``, also join its threads, deliver queued events
        and close the stores.

        Safe to call on a scheduler that was never started (it releases the client's
        connections) and more than once; ``shutdown(wait=False)`` (e.g. from a signal
        handler) followed by ``shutdown()`` completes the cleanup.
        """
        service = self._service
        if service is not None and self._state is not SchedulerState.STOPPED:
            service.stop(wait=False)
            self._state = SchedulerState.STOPPED
            self._dispatcher.dispatch(SchedulerEvent(code=EVENT_SCHEDULER_SHUTDOWN))
        self._stopped.set()
        if wait:
            if service is not None:
                service.stop(wait=True)
                self._service = None
            self._dispatcher.close()
            self._metrics.close()
            self._metrics = NO_METRICS
            self._release()

    def pause(self) -> None:
        """Stop publishing runs from this process until ``resume()``."""
        service = self._running_service()
        service.pause()
        self._state = SchedulerState.PAUSED
        self._dispatcher.dispatch(SchedulerEvent(code=EVENT_SCHEDULER_PAUSED))

    def resume(self) -> None:
        """Publish runs again after ``pause()`` or ``start(paused=True)``."""
        service = self._running_service()
        service.resume()
        self._state = SchedulerState.RUNNING
        self._dispatcher.dispatch(SchedulerEvent(code=EVENT_SCHEDULER_RESUMED))

    def open(self) -> None:
        """Open the database now (upgrading its schema) instead of at first use.

        Raises ``StoreUnavailable`` if it cannot be reached.
        """
        self._open()

    def wait_for_shutdown(self, timeout: float | None = None) -> bool:
        """Block until ``shutdown()``; True if it happened within ``timeout`` seconds."""
        waited = 0.0
        while not self._stopped.wait(_BLOCKING_POLL_S):
            waited += _BLOCKING_POLL_S
            if timeout is not None and waited >= timeout:
                return False
        return True

    def wakeup(self) -> None:
        """Re-plan now (normally automatic after every job change)."""
        self._wake_local()

    def _wake_local(self) -> None:
        if self._service is not None:
            self._service.wake()

    def _running_service(self) -> SchedulerService:
        if self._service is None:
            raise SchedulerNotRunningError("the scheduler is not running")
        return self._service

    def __enter__(self) -> Lifecycle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.shutdown()
