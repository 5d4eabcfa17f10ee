"""dueq wire protocol version 1: the messages between scheduler and workers.

JSON only, never pickle. See docs/protocol.md for the prose version a consumer in any
language can follow.

The names below load on first use (``lazy_exports``): a module that needs only the retry
policy (a job, the settings) does not pay for building every event model and the codec's
adapters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dueq.shared.lazyexports import lazy_exports

# Where each name lives; ``__all__`` and the type checker's imports below list the same
# names (a unit test holds them together).
_PUBLIC: dict[str, str] = {
    "CONTENT_TYPE": "dueq.shared.protocol.codec",
    "MAX_MESSAGE_BYTES": "dueq.shared.protocol.codec",
    "decode_event": "dueq.shared.protocol.codec",
    "decode_run": "dueq.shared.protocol.codec",
    "encode": "dueq.shared.protocol.codec",
    "MAX_ATTEMPTS": "dueq.shared.protocol.control",
    "Overlap": "dueq.shared.protocol.control",
    "RetryPolicy": "dueq.shared.protocol.control",
    "backoff_delay": "dueq.shared.protocol.control",
    "Event": "dueq.shared.protocol.events",
    "EventType": "dueq.shared.protocol.events",
    "ExceptionInfo": "dueq.shared.protocol.events",
    "ExecutionEvent": "dueq.shared.protocol.events",
    "JobError": "dueq.shared.protocol.events",
    "JobExecuted": "dueq.shared.protocol.events",
    "JobMaxInstances": "dueq.shared.protocol.events",
    "JobMissed": "dueq.shared.protocol.events",
    "JobRejected": "dueq.shared.protocol.events",
    "JobStarted": "dueq.shared.protocol.events",
    "MAX_TRACEBACK_CHARS": "dueq.shared.protocol.events",
    "MissedReason": "dueq.shared.protocol.events",
    "WorkerEvent": "dueq.shared.protocol.events",
    "WorkerHeartbeat": "dueq.shared.protocol.events",
    "WorkerOffline": "dueq.shared.protocol.events",
    "WorkerOnline": "dueq.shared.protocol.events",
    "ARGUMENTS_CHECKED": "dueq.shared.protocol.runs",
    "MAX_ARGUMENTS_BYTES": "dueq.shared.protocol.runs",
    "RUN_ID_NAMESPACE": "dueq.shared.protocol.runs",
    "RunRequest": "dueq.shared.protocol.runs",
    "make_run_id": "dueq.shared.protocol.runs",
    "PROTOCOL_VERSION": "dueq.shared.protocol.types",
    "format_utc": "dueq.shared.protocol.types",
}

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


__getattr__, __dir__ = lazy_exports(globals(), _PUBLIC)

if TYPE_CHECKING:  # the type checker sees plain imports; at run time they load lazily
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
