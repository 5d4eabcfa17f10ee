"""dueq wire protocol version 1: the messages between scheduler and workers.

JSON only, never pickle. See docs/protocol.md for the prose version a consumer in any
language can follow.
"""

from dueq.shared.protocol.codec import (
    CONTENT_TYPE,
    MAX_MESSAGE_BYTES,
    decode_event,
    decode_run,
    encode,
)
from dueq.shared.protocol.control import MAX_ATTEMPTS, Overlap, RetryPolicy, backoff_delay
from dueq.shared.protocol.events import (
    MAX_TRACEBACK_CHARS,
    Event,
    EventType,
    ExceptionInfo,
    ExecutionEvent,
    JobError,
    JobExecuted,
    JobMaxInstances,
    JobMissed,
    JobRejected,
    JobStarted,
    MissedReason,
    WorkerEvent,
    WorkerHeartbeat,
    WorkerOffline,
    WorkerOnline,
)
from dueq.shared.protocol.runs import (
    ARGUMENTS_CHECKED,
    MAX_ARGUMENTS_BYTES,
    RUN_ID_NAMESPACE,
    RunRequest,
    make_run_id,
)
from dueq.shared.protocol.types import PROTOCOL_VERSION, format_utc

__all__ = [
    "ARGUMENTS_CHECKED",
    "CONTENT_TYPE",
    "MAX_ARGUMENTS_BYTES",
    "MAX_ATTEMPTS",
    "MAX_MESSAGE_BYTES",
    "MAX_TRACEBACK_CHARS",
    "PROTOCOL_VERSION",
    "RUN_ID_NAMESPACE",
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
    "Overlap",
    "RetryPolicy",
    "RunRequest",
    "WorkerEvent",
    "WorkerHeartbeat",
    "WorkerOffline",
    "WorkerOnline",
    "backoff_delay",
    "decode_event",
    "decode_run",
    "encode",
    "format_utc",
    "make_run_id",
]
