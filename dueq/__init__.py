"""dueq: a scheduler whose jobs run on workers anywhere, with APScheduler 3's API.

Installing dueq adds this one import name. The scheduler, the worker and what both share
live in ``dueq.producer``, ``dueq.worker`` and ``dueq.shared``; the public API is here::

    from dueq import BackgroundScheduler, CronTrigger, job

The names below load on first use (PEP 562), so ``import dueq`` and ``dueq --help`` stay
fast: a command that only prints help never imports SQLAlchemy or kombu.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Where each public name lives, for lazy loading. ``__all__`` below and the type checker's
# imports at the end list the same names: a unit test holds the three together.
_PUBLIC: dict[str, str] = {
    # Schedulers and the job handle.
    "AsyncIOScheduler": "dueq.producer",
    "BackgroundScheduler": "dueq.producer",
    "BlockingScheduler": "dueq.producer",
    "Scheduler": "dueq.producer",
    "Job": "dueq.producer",
    "JobDefaults": "dueq.producer",
    "SchedulerSettings": "dueq.producer",
    "SchedulerAlreadyRunningError": "dueq.producer",
    "SchedulerNotRunningError": "dueq.producer",
    "STATE_PAUSED": "dueq.producer",
    "STATE_RUNNING": "dueq.producer",
    "STATE_STOPPED": "dueq.producer",
    # Event codes and event classes (APScheduler 3's numbers and names).
    "EVENT_ALL": "dueq.producer",
    "EVENT_ALL_JOBS_REMOVED": "dueq.producer",
    "EVENT_EXECUTOR_ADDED": "dueq.producer",
    "EVENT_EXECUTOR_REMOVED": "dueq.producer",
    "EVENT_JOBSTORE_ADDED": "dueq.producer",
    "EVENT_JOBSTORE_REMOVED": "dueq.producer",
    "EVENT_SCHEDULER_START": "dueq.producer",
    "EVENT_JOB_ADDED": "dueq.producer",
    "EVENT_JOB_ERROR": "dueq.producer",
    "EVENT_JOB_EXECUTED": "dueq.producer",
    "EVENT_JOB_MAX_INSTANCES": "dueq.producer",
    "EVENT_JOB_MISSED": "dueq.producer",
    "EVENT_JOB_MODIFIED": "dueq.producer",
    "EVENT_JOB_REMOVED": "dueq.producer",
    "EVENT_JOB_SUBMITTED": "dueq.producer",
    "EVENT_SCHEDULER_PAUSED": "dueq.producer",
    "EVENT_SCHEDULER_RESUMED": "dueq.producer",
    "EVENT_SCHEDULER_SHUTDOWN": "dueq.producer",
    "EVENT_SCHEDULER_STARTED": "dueq.producer",
    "JobEvent": "dueq.producer",
    "JobExecutionEvent": "dueq.producer",
    "JobSubmissionEvent": "dueq.producer",
    "RemoteJobError": "dueq.producer",
    "SchedulerEvent": "dueq.producer",
    # Triggers.
    "AndTrigger": "dueq.shared.triggers",
    "CalendarIntervalTrigger": "dueq.shared.triggers",
    "CronTrigger": "dueq.shared.triggers",
    "DateTrigger": "dueq.shared.triggers",
    "IntervalTrigger": "dueq.shared.triggers",
    "OrTrigger": "dueq.shared.triggers",
    "Trigger": "dueq.shared.triggers",
    # Job functions and the worker.
    "job": "dueq.shared.funcref",
    "current_run": "dueq.worker.context",
    "NotInRun": "dueq.worker.context",
    "RunContext": "dueq.worker.context",
    "RetryPolicy": "dueq.shared.protocol",
    "Worker": "dueq.worker",
    "WorkerSettings": "dueq.worker",
    # Errors.
    "BrokerUnavailable": "dueq.shared.errors",
    "ConfigError": "dueq.shared.errors",
    "ConflictingIdError": "dueq.shared.errors",
    "DueqError": "dueq.shared.errors",
    "InvalidTriggerError": "dueq.shared.errors",
    "JobLookupError": "dueq.shared.errors",
    "ProtocolError": "dueq.shared.errors",
    "ServiceUnavailable": "dueq.shared.errors",
    "StoreUnavailable": "dueq.shared.errors",
}

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
    "STATE_PAUSED",
    "STATE_RUNNING",
    "STATE_STOPPED",
    "AndTrigger",
    "AsyncIOScheduler",
    "BackgroundScheduler",
    "BlockingScheduler",
    "BrokerUnavailable",
    "CalendarIntervalTrigger",
    "ConfigError",
    "ConflictingIdError",
    "CronTrigger",
    "DateTrigger",
    "DueqError",
    "IntervalTrigger",
    "InvalidTriggerError",
    "Job",
    "JobDefaults",
    "JobEvent",
    "JobExecutionEvent",
    "JobLookupError",
    "JobSubmissionEvent",
    "NotInRun",
    "OrTrigger",
    "ProtocolError",
    "RemoteJobError",
    "RetryPolicy",
    "RunContext",
    "Scheduler",
    "SchedulerAlreadyRunningError",
    "SchedulerEvent",
    "SchedulerNotRunningError",
    "SchedulerSettings",
    "ServiceUnavailable",
    "StoreUnavailable",
    "Trigger",
    "Worker",
    "WorkerSettings",
    "__version__",
    "current_run",
    "job",
]


def __getattr__(name: str) -> Any:
    """Load a public name from its home module the first time it is asked for."""
    home = _PUBLIC.get(name)
    if home is None:
        raise AttributeError(f"module 'dueq' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})


if TYPE_CHECKING:  # the type checker sees plain imports; at run time they load lazily
    from dueq.producer import (
        EVENT_ALL,
        EVENT_ALL_JOBS_REMOVED,
        EVENT_EXECUTOR_ADDED,
        EVENT_EXECUTOR_REMOVED,
        EVENT_JOB_ADDED,
        EVENT_JOB_ERROR,
        EVENT_JOB_EXECUTED,
        EVENT_JOB_MAX_INSTANCES,
        EVENT_JOB_MISSED,
        EVENT_JOB_MODIFIED,
        EVENT_JOB_REMOVED,
        EVENT_JOB_SUBMITTED,
        EVENT_JOBSTORE_ADDED,
        EVENT_JOBSTORE_REMOVED,
        EVENT_SCHEDULER_PAUSED,
        EVENT_SCHEDULER_RESUMED,
        EVENT_SCHEDULER_SHUTDOWN,
        EVENT_SCHEDULER_START,
        EVENT_SCHEDULER_STARTED,
        STATE_PAUSED,
        STATE_RUNNING,
        STATE_STOPPED,
        AsyncIOScheduler,
        BackgroundScheduler,
        BlockingScheduler,
        Job,
        JobDefaults,
        JobEvent,
        JobExecutionEvent,
        JobSubmissionEvent,
        RemoteJobError,
        Scheduler,
        SchedulerAlreadyRunningError,
        SchedulerEvent,
        SchedulerNotRunningError,
        SchedulerSettings,
    )
    from dueq.shared.errors import (
        BrokerUnavailable,
        ConfigError,
        ConflictingIdError,
        DueqError,
        InvalidTriggerError,
        JobLookupError,
        ProtocolError,
        ServiceUnavailable,
        StoreUnavailable,
    )
    from dueq.shared.funcref import job
    from dueq.shared.protocol import RetryPolicy
    from dueq.shared.triggers import (
        AndTrigger,
        CalendarIntervalTrigger,
        CronTrigger,
        DateTrigger,
        IntervalTrigger,
        OrTrigger,
        Trigger,
    )
    from dueq.worker import Worker, WorkerSettings
    from dueq.worker.context import NotInRun, RunContext, current_run
