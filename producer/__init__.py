"""dueq's scheduler: APScheduler's API over a shared SQL job store, publishing due runs.

Typical use::

    from dueq.producer import BackgroundScheduler

    scheduler = BackgroundScheduler(database_url="postgresql+psycopg://...",
                                    broker_url="amqp://...")
    scheduler.add_job("reports:daily", "cron", hour=6, id="daily", replace_existing=True)
    scheduler.start()

The names load on first use (PEP 562), so a command that only reads the job store (``dueq
jobs list``) does not import the scheduler service, kombu or Alembic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Where each public name lives; ``__all__`` and the type checker's imports below list the
# same names.
_PUBLIC: dict[str, str] = {
    "AsyncIOScheduler": "dueq.producer.aio",
    "BackgroundScheduler": "dueq.producer.scheduler",
    "BlockingScheduler": "dueq.producer.scheduler",
    "EVENT_ALL": "dueq.producer.listeners",
    "EVENT_ALL_JOBS_REMOVED": "dueq.producer.listeners",
    "EVENT_EXECUTOR_ADDED": "dueq.producer.listeners",
    "EVENT_EXECUTOR_REMOVED": "dueq.producer.listeners",
    "EVENT_JOBSTORE_ADDED": "dueq.producer.listeners",
    "EVENT_JOBSTORE_REMOVED": "dueq.producer.listeners",
    "EVENT_JOB_ADDED": "dueq.producer.listeners",
    "EVENT_JOB_ERROR": "dueq.producer.listeners",
    "EVENT_JOB_EXECUTED": "dueq.producer.listeners",
    "EVENT_JOB_MAX_INSTANCES": "dueq.producer.listeners",
    "EVENT_JOB_MISSED": "dueq.producer.listeners",
    "EVENT_JOB_MODIFIED": "dueq.producer.listeners",
    "EVENT_JOB_REMOVED": "dueq.producer.listeners",
    "EVENT_JOB_SUBMITTED": "dueq.producer.listeners",
    "EVENT_SCHEDULER_PAUSED": "dueq.producer.listeners",
    "EVENT_SCHEDULER_RESUMED": "dueq.producer.listeners",
    "EVENT_SCHEDULER_SHUTDOWN": "dueq.producer.listeners",
    "EVENT_SCHEDULER_START": "dueq.producer.listeners",
    "EVENT_SCHEDULER_STARTED": "dueq.producer.listeners",
    "Job": "dueq.producer.job",
    "JobDefaults": "dueq.producer.settings",
    "JobEvent": "dueq.producer.listeners",
    "JobExecutionEvent": "dueq.producer.listeners",
    "JobSubmissionEvent": "dueq.producer.listeners",
    "RemoteJobError": "dueq.producer.listeners",
    "STATE_PAUSED": "dueq.producer.lifecycle",
    "STATE_RUNNING": "dueq.producer.lifecycle",
    "STATE_STOPPED": "dueq.producer.lifecycle",
    "Scheduler": "dueq.producer.scheduler",
    "SchedulerAlreadyRunningError": "dueq.producer.lifecycle",
    "SchedulerEvent": "dueq.producer.listeners",
    "SchedulerNotRunningError": "dueq.producer.lifecycle",
    "SchedulerSettings": "dueq.producer.settings",
    "UNSET": "dueq.producer.job",
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
    "UNSET",
    "AsyncIOScheduler",
    "BackgroundScheduler",
    "BlockingScheduler",
    "Job",
    "JobDefaults",
    "JobEvent",
    "JobExecutionEvent",
    "JobSubmissionEvent",
    "RemoteJobError",
    "Scheduler",
    "SchedulerAlreadyRunningError",
    "SchedulerEvent",
    "SchedulerNotRunningError",
    "SchedulerSettings",
]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})


if TYPE_CHECKING:  # the type checker sees plain imports; at run time they load lazily
    from dueq.producer.aio import (
        AsyncIOScheduler,
    )
    from dueq.producer.job import (
        UNSET,
        Job,
    )
    from dueq.producer.lifecycle import (
        STATE_PAUSED,
        STATE_RUNNING,
        STATE_STOPPED,
        SchedulerAlreadyRunningError,
        SchedulerNotRunningError,
    )
    from dueq.producer.listeners import (
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
        JobEvent,
        JobExecutionEvent,
        JobSubmissionEvent,
        RemoteJobError,
        SchedulerEvent,
    )
    from dueq.producer.scheduler import (
        BackgroundScheduler,
        BlockingScheduler,
        Scheduler,
    )
    from dueq.producer.settings import (
        JobDefaults,
        SchedulerSettings,
    )
