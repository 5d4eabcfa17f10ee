"""The bodies of the events this consumer publishes (docs/protocol.md, "Events").

Each function returns a plain dict holding exactly the fields event.json lists for that
event: the schema refuses unknown fields, so nothing extra is ever added.
"""

from __future__ import annotations

import json
import os
import socket
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from examples.pika_worker.protocol import Run, format_utc

# Overlap policies that would wait for a slot or cancel the running instance: this
# consumer does neither, so it skips such a run and names the policy (overlap_fallback).
CANNOT_WAIT = frozenset({"buffer_one", "buffer_all", "cancel_other"})

__all__ = ["Identity", "Outcome", "exception_info", "json_retval", "new_worker_id"]

# event.json: ExceptionInfo.traceback is at most 32 KiB, message and reasons 4 KiB.
MAX_TRACEBACK_CHARS = 32 * 1024
MAX_TEXT_CHARS = 4096

# A return value that is not JSON is reported as its repr, cut to this many characters.
MAX_REPR_CHARS = 1024


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What calling a job produced: a return value or an exception, and when."""

    started_at: datetime
    finished_at: datetime
    retval: Any = None
    error: BaseException | None = None
    timed_out: bool = False


def new_worker_id() -> str:
    """A worker id unique to this process start."""
    return f"pika-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, kw_only=True)
class Identity:
    """Who is speaking: the fields every event starts with."""

    worker_id: str = field(default_factory=new_worker_id)
    hostname: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)

    def base(self, event: str) -> dict[str, Any]:
        """The fields of every event."""
        return {
            "protocol": 1,
            "event": event,
            "worker_id": self.worker_id,
            "hostname": self.hostname[:255],
            "pid": self.pid,
            "emitted_at": format_utc(datetime.now(UTC)),
        }

    def about(self, event: str, run: Run, *, redelivered: bool) -> dict[str, Any]:
        """The fields of every event about one run."""
        body = {
            **self.base(event),
            "run_id": run.run_id,
            "job_id": run.job_id,
            "scheduled_at": format_utc(run.scheduled_at),
            "redelivered": redelivered,
        }
        if run.attempt > 1:
            body["attempt"] = run.attempt
        return body

    def started(
        self, run: Run, started_at: datetime, lateness: float, **kw: bool
    ) -> dict[str, Any]:
        """``job_started``: every check passed."""
        body = self.about("job_started", run, **kw)
        return {**body, "started_at": format_utc(started_at), "lateness_s": lateness}

    def finished(self, run: Run, outcome: Outcome, lateness: float, **kw: bool) -> dict[str, Any]:
        """``job_executed`` or ``job_error``, from what the call produced."""
        failed = outcome.error is not None or outcome.timed_out
        name = "job_error" if failed else "job_executed"
        body = self.about(name, run, **kw)
        body["started_at"] = format_utc(outcome.started_at)
        body["finished_at"] = format_utc(outcome.finished_at)
        elapsed = (outcome.finished_at - outcome.started_at).total_seconds()
        body["duration_s"] = max(0.0, elapsed)
        body["lateness_s"] = lateness
        if outcome.timed_out:
            message = f"the job ran longer than its timeout of {run.timeout} s"
            body["exception"] = {"type": "TimeoutError", "message": message, "traceback": ""}
            body["timed_out"] = True
            classes = ["TimeoutError", "OSError", "Exception"]
        elif outcome.error is None:
            body["retval"], body["retval_is_repr"] = json_retval(outcome.retval)
            return body
        else:
            body["exception"] = exception_info(outcome.error)
            classes = [_qualified(kind) for kind in type(outcome.error).__mro__]
        if will_retry(run, classes):
            body["retry_request"] = run.data
        return body

    def missed(self, run: Run, lateness: float, **kw: bool) -> dict[str, Any]:
        """``job_missed``: later than the misfire grace time allows."""
        body = self.about("job_missed", run, **kw)
        return {**body, "lateness_s": lateness, "misfire_grace_time": run.misfire_grace_time}

    def coalesced(self, run: Run, lateness: float, **kw: bool) -> dict[str, Any]:
        """``job_missed`` with reason ``coalesced``: a newer run of the job is already due."""
        body = self.about("job_missed", run, **kw)
        return {**body, "lateness_s": lateness, "misfire_grace_time": None, "reason": "coalesced"}

    def max_instances(self, run: Run, running: int, **kw: bool) -> dict[str, Any]:
        """``job_max_instances``: no free instance slot."""
        body = self.about("job_max_instances", run, **kw)
        body = {**body, "max_instances": run.max_instances, "running": running}
        if run.overlap in CANNOT_WAIT:  # this consumer does not wait or cancel: say so
            body["overlap_fallback"] = run.overlap
        return body

    def rejected(self, reason: str, ids: dict[str, str]) -> dict[str, Any]:
        """``job_rejected``: a bad message, with whatever ids could be read."""
        return {**self.base("job_rejected"), "reason": reason[:MAX_TEXT_CHARS], **ids}


def json_retval(value: Any) -> tuple[Any, bool]:
    """The return value if it is JSON, else its truncated repr and ``True``."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return repr(value)[:MAX_REPR_CHARS], True
    return value, False


def will_retry(run: Run, classes: list[str]) -> bool:
    """Whether a failure whose exception has ``classes`` (most derived first) is retried."""
    policy = run.retry
    if policy is None or run.attempt >= policy.get("max_attempts", 3):
        return False
    names = policy.get("retry_on") or []
    return not names or any(name in classes for name in names)


def _qualified(kind: type) -> str:
    return (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )


def exception_info(error: BaseException) -> dict[str, str]:
    """``exception`` of a ``job_error``: qualified type, message, innermost traceback."""
    kind = type(error)
    name = (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )
    text = "".join(traceback.format_exception(error))
    return {
        "type": name[:255],
        "message": str(error)[:MAX_TEXT_CHARS],
        # Python prints the innermost frame last, so keeping the tail keeps it.
        "traceback": text[-MAX_TRACEBACK_CHARS:],
    }
