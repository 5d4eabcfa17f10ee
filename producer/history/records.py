"""Pure mapping from events to history column values, shared by every RunHistory."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from dueq.producer.history.base import RunStatus
from dueq.shared.protocol import (
    Event,
    JobError,
    JobExecuted,
    JobMaxInstances,
    JobMissed,
    JobRejected,
    JobStarted,
    WorkerHeartbeat,
    WorkerOffline,
    WorkerOnline,
    make_run_id,
)

__all__ = ["WORKER_INSERT_DEFAULTS", "run_values", "worker_values"]

log = logging.getLogger(__name__)

_STATUS: dict[type, RunStatus] = {
    JobStarted: RunStatus.STARTED,
    JobExecuted: RunStatus.EXECUTED,
    JobError: RunStatus.ERROR,
    JobMissed: RunStatus.MISSED,
    JobMaxInstances: RunStatus.MAX_INSTANCES,
    JobRejected: RunStatus.REJECTED,
}


def run_values(event: Event) -> dict[str, Any] | None:
    """``dueq_runs`` columns an event sets, or None if it is not about an identifiable run."""
    status = _STATUS.get(type(event))
    if status is None:
        return None
    run_id = getattr(event, "run_id", None)
    job_id = getattr(event, "job_id", None)
    scheduled_at = getattr(event, "scheduled_at", None)
    if not run_id or not job_id or scheduled_at is None:
        return None
    if run_id != _bound_id(job_id, scheduled_at, getattr(event, "attempt", 1)):
        # Not the id of this job at this time: a forgery or a pre-claimed id, never ours.
        log.warning(
            "ignoring a %s event: run %s is not the run of job %r at %s",
            event.event.value,
            run_id,
            job_id,
            scheduled_at.isoformat(),
        )
        return None
    values: dict[str, Any] = {
        "run_id": run_id,
        "job_id": job_id,
        "scheduled_at": scheduled_at,
        "status": status.value,
        "worker_id": event.worker_id,
        "redelivered": bool(getattr(event, "redelivered", False)),
        "attempt": getattr(event, "attempt", 1),
    }
    for name in ("started_at", "finished_at", "duration_s", "lateness_s"):
        if hasattr(event, name):
            values[name] = getattr(event, name)
    values.update(_outcome_values(event))
    return values


def _outcome_values(event: Event) -> dict[str, Any]:
    """The result or reason columns of an outcome event."""
    values: dict[str, Any] = {}
    if isinstance(event, JobExecuted):
        values["retval"] = event.retval
    if isinstance(event, JobError):
        values["exception_type"] = event.exception.type
        values["exception_message"] = event.exception.message
        values["traceback"] = event.exception.traceback
    if isinstance(event, JobRejected):
        values["exception_message"] = event.reason
    if isinstance(event, JobMissed):
        values["exception_message"] = f"missed: {event.reason.value}"
    if isinstance(event, JobMaxInstances) and event.overlap_fallback is not None:
        values["exception_message"] = (
            f"skipped: the worker cannot honour overlap {event.overlap_fallback.value}"
        )
    return values


def worker_values(event: Event, now: datetime) -> dict[str, Any] | None:
    """``dueq_workers`` columns a liveness event sets, or None for other events."""
    common = {
        "worker_id": event.worker_id,
        "hostname": event.hostname,
        "pid": event.pid,
        "last_seen_at": now,
    }
    if isinstance(event, WorkerOnline):
        return {
            **common,
            "queues": list(event.queues),
            "concurrency": event.concurrency,
            "running": 0,
            "status": "online",
            "started_at": event.emitted_at,
        }
    if isinstance(event, WorkerHeartbeat):
        return {
            **common,
            "queues": list(event.queues),
            "concurrency": event.capacity,
            "running": event.running,
            "status": "online",
        }
    if isinstance(event, WorkerOffline):
        return {**common, "running": 0, "status": "offline"}
    return None


# Columns a worker row needs when its first event is a heartbeat or an offline notice
# (the scheduler started after the worker): filled in by later heartbeats.
WORKER_INSERT_DEFAULTS: dict[str, Any] = {
    "queues": [],
    "concurrency": 1,
    "running": 0,
    "status": "online",
    "started_at": None,
}


def _bound_id(job_id: str, scheduled_at: datetime, attempt: int) -> str | None:
    """The run id of ``job_id`` at ``scheduled_at`` and ``attempt``; None if there is none."""
    try:
        return make_run_id(job_id, scheduled_at, attempt)
    except Exception:  # an attempt number no scheduler issues: bound to nothing
        return None
