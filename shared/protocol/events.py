"""Events workers publish on the reply queue: what happened to each run, and worker liveness.

One model per event, discriminated by the ``event`` field, so each carries exactly the
fields that mean something for it (a ``job_missed`` has a lateness but no return value).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import Field, JsonValue

from dueq.shared.protocol.control import Overlap
from dueq.shared.protocol.runs import RunRequest
from dueq.shared.protocol.types import (
    Identifier,
    ProtocolModel,
    QueueName,
    ShortText,
    UtcDatetime,
)

__all__ = [
    "MAX_TRACEBACK_CHARS",
    "Event",
    "EventType",
    "ExceptionInfo",
    "ExecutionEvent",
    "JobError",
    "JobExecuted",
    "JobMaxInstances",
    "JobMissed",
    "JobRejected",
    "JobStarted",
    "MissedReason",
    "WorkerEvent",
    "WorkerHeartbeat",
    "WorkerOffline",
    "WorkerOnline",
]

# Long enough for any real traceback (a few hundred frames), short enough that an event
# stays far below the broker's frame sizes; workers keep the innermost frames when cutting.
MAX_TRACEBACK_CHARS = 32 * 1024

Seconds = Annotated[float, Field(ge=0)]
Lateness = Annotated[float, Field(description="Seconds between scheduled_at and the check")]


class EventType(StrEnum):
    """Every value the ``event`` field can take."""

    JOB_STARTED = "job_started"
    JOB_EXECUTED = "job_executed"
    JOB_ERROR = "job_error"
    JOB_MISSED = "job_missed"
    JOB_MAX_INSTANCES = "job_max_instances"
    JOB_REJECTED = "job_rejected"
    WORKER_ONLINE = "worker_online"
    WORKER_HEARTBEAT = "worker_heartbeat"
    WORKER_OFFLINE = "worker_offline"


class ExceptionInfo(ProtocolModel):
    """What a failing job raised."""

    type: Annotated[str, Field(max_length=255, description="Qualified exception class name")]
    message: ShortText
    traceback: Annotated[str, Field(max_length=MAX_TRACEBACK_CHARS)]


class _WorkerSaid(ProtocolModel):
    """Fields of every event: who sent it and when."""

    protocol: Literal[1] = 1
    worker_id: Identifier
    hostname: Annotated[str, Field(max_length=255)]
    pid: Annotated[int, Field(ge=0)]
    emitted_at: UtcDatetime


class _AboutRun(_WorkerSaid):
    """Fields of every event about one run."""

    run_id: Annotated[str, Field(min_length=1, max_length=64)]
    job_id: Identifier
    scheduled_at: UtcDatetime
    redelivered: bool = Field(
        default=False, description="The run message had been delivered before (a retry)"
    )
    # Run control (optional; left off the wire at their defaults).
    attempt: Annotated[int, Field(ge=1)] = Field(
        default=1, description="The run's attempt number (RunRequest.attempt)"
    )
    taken_over: bool = Field(
        default=False,
        description="Another worker had claimed this run and died; this one took it over",
    )

    EXTENSIONS: ClassVar[dict[str, object]] = {"attempt": 1, "taken_over": False}


class JobStarted(_AboutRun):
    """The worker passed every check and is calling the job now."""

    event: Literal[EventType.JOB_STARTED] = EventType.JOB_STARTED
    started_at: UtcDatetime
    lateness_s: Lateness


class JobExecuted(_AboutRun):
    """The job returned."""

    event: Literal[EventType.JOB_EXECUTED] = EventType.JOB_EXECUTED
    started_at: UtcDatetime
    finished_at: UtcDatetime
    duration_s: Seconds
    lateness_s: Lateness
    retval: JsonValue = Field(
        default=None, description="The return value, or its truncated repr if not JSON"
    )
    retval_is_repr: bool = False


class JobError(_AboutRun):
    """The job raised."""

    event: Literal[EventType.JOB_ERROR] = EventType.JOB_ERROR
    started_at: UtcDatetime
    finished_at: UtcDatetime
    duration_s: Seconds
    lateness_s: Lateness
    exception: ExceptionInfo
    timed_out: bool = Field(
        default=False, description="The job ran past its timeout and was stopped"
    )
    retry_request: RunRequest | None = Field(
        default=None,
        description="The run as received, when its retry policy says to try again: the "
        "scheduler schedules attempt + 1 after the backoff",
    )

    EXTENSIONS: ClassVar[dict[str, object]] = {
        **_AboutRun.EXTENSIONS,
        "timed_out": False,
        "retry_request": None,
    }


class MissedReason(StrEnum):
    """Why a run was not started (``JobMissed.reason``)."""

    MISFIRE = "misfire"
    COALESCED = "coalesced"


class JobMissed(_AboutRun):
    """The run was not run: too late for its misfire grace time, or coalesced away."""

    event: Literal[EventType.JOB_MISSED] = EventType.JOB_MISSED
    lateness_s: Lateness
    misfire_grace_time: Seconds | None = Field(
        description="The grace time it exceeded (null when coalesced)"
    )
    reason: MissedReason = Field(
        default=MissedReason.MISFIRE,
        description="misfire: later than misfire_grace_time; coalesced: a newer run of the "
        "coalescing job was already due",
    )

    EXTENSIONS: ClassVar[dict[str, object]] = {
        **_AboutRun.EXTENSIONS,
        "reason": MissedReason.MISFIRE,
    }


class JobMaxInstances(_AboutRun):
    """The job already had ``max_instances`` runs in progress; this one was not run."""

    event: Literal[EventType.JOB_MAX_INSTANCES] = EventType.JOB_MAX_INSTANCES
    max_instances: Annotated[int, Field(ge=1)]
    running: Annotated[int, Field(ge=0)]
    overlap_fallback: Overlap | None = Field(
        default=None,
        description="The run's overlap policy (buffer_one, buffer_all, cancel_other) when "
        "this consumer cannot honour it and skipped the run instead, as overlap skip does",
    )

    EXTENSIONS: ClassVar[dict[str, object]] = {
        **_AboutRun.EXTENSIONS,
        "overlap_fallback": None,
    }


class JobRejected(_WorkerSaid):
    """A message could not be parsed or names a function this worker may not run.

    The ids are present when the message could be read far enough to find them.
    """

    event: Literal[EventType.JOB_REJECTED] = EventType.JOB_REJECTED
    reason: ShortText
    message_id: Annotated[str, Field(max_length=255)] | None = None
    run_id: Annotated[str, Field(max_length=64)] | None = None
    job_id: Annotated[str, Field(max_length=255)] | None = None
    scheduled_at: UtcDatetime | None = None


class WorkerOnline(_WorkerSaid):
    """A worker started consuming."""

    event: Literal[EventType.WORKER_ONLINE] = EventType.WORKER_ONLINE
    queues: Annotated[list[QueueName], Field(max_length=100)]
    concurrency: Annotated[int, Field(ge=1)]
    executor: Annotated[str, Field(max_length=32)]
    version: Annotated[str, Field(max_length=64)]


class WorkerHeartbeat(_WorkerSaid):
    """A worker is alive; sent periodically."""

    event: Literal[EventType.WORKER_HEARTBEAT] = EventType.WORKER_HEARTBEAT
    queues: Annotated[list[QueueName], Field(max_length=100)]
    running: Annotated[int, Field(ge=0)]
    capacity: Annotated[int, Field(ge=1)]


class WorkerOffline(_WorkerSaid):
    """A worker stopped consuming (graceful shutdown)."""

    event: Literal[EventType.WORKER_OFFLINE] = EventType.WORKER_OFFLINE
    reason: ShortText = "shutdown"


ExecutionEvent = Annotated[
    JobStarted | JobExecuted | JobError | JobMissed | JobMaxInstances | JobRejected,
    Field(discriminator="event"),
]
"""Any event about a run."""

WorkerEvent = Annotated[
    WorkerOnline | WorkerHeartbeat | WorkerOffline, Field(discriminator="event")
]
"""Any event about a worker's liveness."""

Event = Annotated[
    JobStarted
    | JobExecuted
    | JobError
    | JobMissed
    | JobMaxInstances
    | JobRejected
    | WorkerOnline
    | WorkerHeartbeat
    | WorkerOffline,
    Field(discriminator="event"),
]
"""Anything a worker publishes on the reply queue."""
