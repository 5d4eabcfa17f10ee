"""Listeners: APScheduler 3's event codes, event objects and masks, called off-thread.

The codes have APScheduler 3's numeric values, so ``mask=EVENT_JOB_EXECUTED |
EVENT_JOB_ERROR`` written for APScheduler means the same here.  Listeners run on one
dedicated thread fed by a bounded queue: a slow or failing listener never stalls the
scheduling loop or the events consumer.  Exceptions are logged and contained; when the
queue is full, new events are dropped with a warning rather than blocking the caller.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dueq.shared.errors import DueqError

__all__ = [
    "EVENT_ALL",
    "EVENT_ALL_JOBS_REMOVED",
    "EVENT_EXECUTOR_ADDED",
    "EVENT_EXECUTOR_REMOVED",
    "EVENT_JOBSTORE_ADDED",
    "EVENT_JOBSTORE_REMOVED",
    "EVENT_JOB_ADDED",
    "EVENT_JOB_ERROR",
    "EVENT_JOB_EXECUTED",
    "EVENT_JOB_MAX_INSTANCES",
    "EVENT_JOB_MISSED",
    "EVENT_JOB_MODIFIED",
    "EVENT_JOB_REMOVED",
    "EVENT_JOB_SUBMITTED",
    "EVENT_SCHEDULER_PAUSED",
    "EVENT_SCHEDULER_RESUMED",
    "EVENT_SCHEDULER_SHUTDOWN",
    "EVENT_SCHEDULER_START",
    "EVENT_SCHEDULER_STARTED",
    "JobEvent",
    "JobExecutionEvent",
    "JobSubmissionEvent",
    "Listener",
    "ListenerDispatcher",
    "RemoteJobError",
    "SchedulerEvent",
]

logger = logging.getLogger(__name__)

# APScheduler 3's values (apscheduler/events.py).  Executor and job store added/removed
# are emitted by ``add_executor``/``add_jobstore`` and their ``remove_*`` (with ``alias``).
EVENT_SCHEDULER_STARTED = EVENT_SCHEDULER_START = 2**0
EVENT_SCHEDULER_SHUTDOWN = 2**1
EVENT_SCHEDULER_PAUSED = 2**2
EVENT_SCHEDULER_RESUMED = 2**3
EVENT_EXECUTOR_ADDED = 2**4
EVENT_EXECUTOR_REMOVED = 2**5
EVENT_JOBSTORE_ADDED = 2**6
EVENT_JOBSTORE_REMOVED = 2**7
EVENT_ALL_JOBS_REMOVED = 2**8
EVENT_JOB_ADDED = 2**9
EVENT_JOB_REMOVED = 2**10
EVENT_JOB_MODIFIED = 2**11
EVENT_JOB_EXECUTED = 2**12
EVENT_JOB_ERROR = 2**13
EVENT_JOB_MISSED = 2**14
EVENT_JOB_SUBMITTED = 2**15
EVENT_JOB_MAX_INSTANCES = 2**16
EVENT_ALL = (
    EVENT_SCHEDULER_STARTED
    | EVENT_SCHEDULER_SHUTDOWN
    | EVENT_SCHEDULER_PAUSED
    | EVENT_SCHEDULER_RESUMED
    | EVENT_EXECUTOR_ADDED
    | EVENT_EXECUTOR_REMOVED
    | EVENT_JOBSTORE_ADDED
    | EVENT_JOBSTORE_REMOVED
    | EVENT_ALL_JOBS_REMOVED
    | EVENT_JOB_ADDED
    | EVENT_JOB_REMOVED
    | EVENT_JOB_MODIFIED
    | EVENT_JOB_EXECUTED
    | EVENT_JOB_ERROR
    | EVENT_JOB_MISSED
    | EVENT_JOB_SUBMITTED
    | EVENT_JOB_MAX_INSTANCES
)

# Seconds shutdown waits for queued events to reach listeners before giving up.
_DRAIN_TIMEOUT_S = 5.0


class RemoteJobError(DueqError):
    """What a job raised in a worker, as an exception object (``JobExecutionEvent.exception``).

    The original exception lives in another process; this carries its qualified type name,
    message and formatted traceback.
    """

    def __init__(self, type_name: str, message: str, traceback: str | None = None) -> None:
        self.type_name = type_name
        self.message = message
        self.traceback = traceback
        super().__init__(f"{type_name}: {message}" if message else type_name)


@dataclass(frozen=True, kw_only=True)
class SchedulerEvent:
    """Something happened to the scheduler (APScheduler's ``SchedulerEvent``)."""

    code: int
    alias: str | None = None


@dataclass(frozen=True, kw_only=True)
class JobEvent(SchedulerEvent):
    """A job was added, modified or removed."""

    job_id: str
    jobstore: str = "default"


@dataclass(frozen=True, kw_only=True)
class JobSubmissionEvent(JobEvent):
    """Runs of a job were published to the broker (``run_ids`` match ``scheduled_run_times``)."""

    scheduled_run_times: list[datetime] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class JobExecutionEvent(JobEvent):
    """A worker reported the outcome of one run (executed, error, missed, max instances)."""

    scheduled_run_time: datetime
    retval: Any = None
    exception: RemoteJobError | None = None
    traceback: str | None = None
    run_id: str = ""
    worker_id: str | None = None
    hostname: str | None = None
    duration_s: float | None = None
    #: Which attempt of the run this was (1 unless it was a retry).
    attempt: int = 1
    #: The run failed and its retry policy schedules another attempt: not final.
    will_retry: bool = False


Listener = Callable[[SchedulerEvent], object]
Invoker = Callable[[Listener, SchedulerEvent], None]
"""How a listener is called: directly on the listener thread, or handed to an event loop."""


class ListenerDispatcher:
    """Calls listeners whose mask matches, on its own thread, in the order events came."""

    def __init__(self, maxsize: int = 10_000, name: str = "dueq-listeners") -> None:
        self._listeners: list[tuple[Listener, int]] = []
        self._lock = threading.Lock()
        self._queue: queue.Queue[SchedulerEvent | None] = queue.Queue(maxsize)
        self._name = name
        self._thread: threading.Thread | None = None
        self._invoke: Invoker = self._call
        self._watchers: list[Callable[[], None]] = []

    def watch(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after every change of the listeners, in the changing thread
        (the listener feed binds its queue only while someone wants outcomes)."""
        self._watchers.append(callback)

    def call_with(self, invoke: Invoker) -> None:
        """Have listeners called through ``invoke`` (e.g. on an asyncio loop) from now on."""
        self._invoke = invoke

    def add_listener(self, callback: Listener, mask: int = EVENT_ALL) -> None:
        """Call ``callback(event)`` for every event whose code is in ``mask``."""
        with self._lock:
            self._listeners.append((callback, mask))
        self._changed()

    def remove_listener(self, callback: Listener) -> None:
        """Stop calling ``callback`` (every registration of it)."""
        with self._lock:
            self._listeners = [(cb, mask) for cb, mask in self._listeners if cb != callback]
        self._changed()

    def _changed(self) -> None:
        for watcher in self._watchers:
            watcher()

    def wants(self, codes: int) -> bool:
        """True if a listener's mask takes any of ``codes`` (a cheap look, no lock)."""
        return any(mask & codes for _, mask in self._listeners)

    def dispatch(self, event: SchedulerEvent) -> None:
        """Queue ``event`` for the listeners; never blocks and never raises."""
        with self._lock:
            if not any(mask & event.code for _, mask in self._listeners):
                return
            self._ensure_thread()
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            logger.warning("listener queue full: dropped event %s (listeners too slow)", event)

    def close(self, timeout: float = _DRAIN_TIMEOUT_S) -> None:
        """Deliver what is queued (for up to ``timeout`` s), then stop the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            logger.warning("listener queue still full at shutdown; listeners abandoned")
            return
        thread.join(timeout)

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while (event := self._queue.get()) is not None:
            with self._lock:
                chosen = [cb for cb, mask in self._listeners if mask & event.code]
            for callback in chosen:
                self._invoke(callback, event)

    @staticmethod
    def _call(callback: Listener, event: SchedulerEvent) -> None:
        try:
            callback(event)
        except Exception:
            logger.exception("listener %r failed on %s", callback, event)
