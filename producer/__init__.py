"""dueq's scheduler: APScheduler's API over a shared SQL job store, publishing due runs.

Typical use::

    from dueq.producer import BackgroundScheduler

    scheduler = BackgroundScheduler(database_url="postgresql+psycopg://...",
                                    broker_url="amqp://...")
    scheduler.add_job("reports:daily", "cron", hour=6, id="daily", replace_existing=True)
    scheduler.start()
"""

from dueq.producer.aio import AsyncIOScheduler
from dueq.producer.job import UNSET, Job
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
from dueq.producer.scheduler import BackgroundScheduler, BlockingScheduler, Scheduler
from dueq.producer.settings import JobDefaults, SchedulerSettings

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
