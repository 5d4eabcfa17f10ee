"""From a worker's report (protocol event) to the listener event APScheduler users expect."""

from __future__ import annotations

from dueq.producer.listeners import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    RemoteJobError,
)
from dueq.shared.protocol import (
    Event,
    JobError,
    JobExecuted,
    JobMaxInstances,
    JobMissed,
    JobRejected,
)

__all__ = ["OUTCOME_CODES", "listener_event"]

# Every code ``listener_event`` gives: a scheduler whose listeners take none of them has
# nothing to do with an outcome.
OUTCOME_CODES = EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES


def listener_event(event: Event) -> JobExecutionEvent | None:
    """The listener event for a run's outcome; None for starts and worker liveness.

    A ``job_rejected`` (the worker would not run it: unknown function, bad payload) is
    reported as ``EVENT_JOB_ERROR`` with a ``RemoteJobError`` of type ``JobRejected``: to
    the user the run failed, and silence would hide it.
    """
    if isinstance(event, JobExecuted):
        return _execution(event, EVENT_JOB_EXECUTED, retval=event.retval, duration=event.duration_s)
    if isinstance(event, JobError):
        error = RemoteJobError(
            event.exception.type, event.exception.message, event.exception.traceback
        )
        return _execution(
            event,
            EVENT_JOB_ERROR,
            error=error,
            traceback=event.exception.traceback,
            duration=event.duration_s,
        )
    if isinstance(event, JobMissed):
        return _execution(event, EVENT_JOB_MISSED)
    if isinstance(event, JobMaxInstances):
        return _execution(event, EVENT_JOB_MAX_INSTANCES)
    if isinstance(event, JobRejected) and event.job_id and event.run_id and event.scheduled_at:
        return JobExecutionEvent(
            code=EVENT_JOB_ERROR,
            job_id=event.job_id,
            scheduled_run_time=event.scheduled_at,
            exception=RemoteJobError("JobRejected", event.reason),
            run_id=event.run_id,
            worker_id=event.worker_id,
            hostname=event.hostname,
        )
    return None


def _execution(
    event: JobExecuted | JobError | JobMissed | JobMaxInstances,
    code: int,
    *,
    retval: object = None,
    error: RemoteJobError | None = None,
    traceback: str | None = None,
    duration: float | None = None,
) -> JobExecutionEvent:
    return JobExecutionEvent(
        code=code,
        job_id=event.job_id,
        scheduled_run_time=event.scheduled_at,
        retval=retval,
        exception=error,
        traceback=traceback,
        run_id=event.run_id,
        worker_id=event.worker_id,
        hostname=event.hostname,
        duration_s=duration,
        attempt=event.attempt,
        will_retry=isinstance(event, JobError) and event.retry_request is not None,
    )
