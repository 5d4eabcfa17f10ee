"""Building the events a worker publishes, and the messages that carry them.

Every event goes to the topology's events queue through the default exchange, persistent,
with ``correlation_id`` = the run id so a consumer can match it to its request, and signed
when a key is configured.  A run's ``reply_to`` is not followed: whoever could publish a
run could otherwise make every worker write into any queue it names.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dueq.shared.broker import IncomingMessage, OutgoingMessage
from dueq.shared.metrics import NO_METRICS, Metrics
from dueq.shared.protocol import (
    CONTENT_TYPE,
    Event,
    ExceptionInfo,
    JobError,
    JobExecuted,
    JobMaxInstances,
    JobMissed,
    JobRejected,
    JobStarted,
    MissedReason,
    RunRequest,
    WorkerHeartbeat,
    WorkerOffline,
    WorkerOnline,
    encode,
)
from dueq.shared.signing import Signer
from dueq.shared.topology import Topology
from dueq.shared.utf8 import encodable
from dueq.worker.runner import Outcome

__all__ = ["Identity", "Reporter"]


@dataclass(frozen=True, kw_only=True)
class Identity:
    """Who is speaking: the fields every event carries."""

    worker_id: str
    hostname: str
    pid: int

    @classmethod
    def of_this_process(cls, worker_id: str) -> Identity:
        """The identity of the current process under ``worker_id``."""
        return cls(worker_id=worker_id, hostname=socket.gethostname()[:255], pid=os.getpid())


class Reporter:
    """Makes events (with identity and timestamps filled in) and wraps them as messages."""

    def __init__(
        self,
        identity: Identity,
        topology: Topology,
        clock: Callable[[], datetime],
        metrics: Metrics = NO_METRICS,
        signer: Signer | None = None,
    ) -> None:
        self._metrics = metrics
        self._identity = identity
        self._signer = signer
        self._topology = topology
        self._clock = clock
        self._who: dict[str, Any] = {
            "worker_id": identity.worker_id,
            "hostname": identity.hostname,
            "pid": identity.pid,
        }

    def message(self, event: Event) -> OutgoingMessage:
        """``event`` as a persistent (and signed, with a key) message to the events queue."""
        run_id = getattr(event, "run_id", None)
        self._metrics.events_emitted((event,))
        body, kind = encode(event), event.event.value
        return OutgoingMessage(
            body=body,
            exchange="",
            routing_key=self._topology.events_queue,
            correlation_id=run_id,
            type=kind,
            headers=self._signer.headers(kind, body) if self._signer is not None else {},
            content_type=CONTENT_TYPE,
            persistent=True,
        )

    def _about(
        self, run: RunRequest, redelivered: bool, taken_over: bool = False
    ) -> dict[str, Any]:
        return {
            **self._who,
            "emitted_at": self._clock(),
            "run_id": run.run_id,
            "job_id": run.job_id,
            "scheduled_at": run.scheduled_at,
            "redelivered": redelivered,
            "attempt": run.attempt,
            "taken_over": taken_over,
        }

    def started(
        self, run: RunRequest, redelivered: bool, started_at: datetime, *, taken_over: bool = False
    ) -> JobStarted:
        """The run passed every check and is about to be called."""
        lateness = (started_at - run.scheduled_at).total_seconds()
        return JobStarted(
            **self._about(run, redelivered, taken_over), started_at=started_at, lateness_s=lateness
        )

    def finished(
        self,
        run: RunRequest,
        redelivered: bool,
        outcome: Outcome,
        *,
        taken_over: bool = False,
        retry: RunRequest | None = None,
    ) -> Event:
        """``job_executed`` or ``job_error`` for a call that returned ``outcome``.

        ``retry`` is the run to try again (its retry policy said so), echoed in the error.
        """
        timing: dict[str, Any] = {
            "started_at": outcome.started_at,
            "finished_at": outcome.finished_at,
            "duration_s": max(outcome.duration_s, 0.0),
            "lateness_s": (outcome.started_at - run.scheduled_at).total_seconds(),
        }
        if outcome.error_type is None:
            return JobExecuted(
                **self._about(run, redelivered, taken_over),
                **timing,
                retval=outcome.retval,
                retval_is_repr=outcome.retval_is_repr,
            )
        exception = ExceptionInfo(
            type=outcome.error_type, message=outcome.error_message, traceback=outcome.traceback
        )
        return JobError(
            **self._about(run, redelivered, taken_over),
            **timing,
            exception=exception,
            timed_out=outcome.timed_out,
            retry_request=retry,
        )

    def missed(
        self,
        run: RunRequest,
        redelivered: bool,
        lateness: float,
        reason: MissedReason = MissedReason.MISFIRE,
    ) -> JobMissed:
        """The run came later than its misfire grace time allows, or was coalesced away."""
        return JobMissed(
            **self._about(run, redelivered),
            lateness_s=lateness,
            misfire_grace_time=run.misfire_grace_time,
            reason=reason,
        )

    def max_instances(self, run: RunRequest, redelivered: bool, running: int) -> JobMaxInstances:
        """Every instance slot of the job was taken."""
        return JobMaxInstances(
            **self._about(run, redelivered), max_instances=run.max_instances, running=running
        )

    def rejected(
        self, message: IncomingMessage, reason: str, run: RunRequest | None
    ) -> JobRejected:
        """A message that could not be parsed or names a function that may not run."""
        ids: dict[str, Any] = {"message_id": _bounded(message.message_id, 255)}
        if run is not None:
            ids.update(run_id=run.run_id, job_id=run.job_id, scheduled_at=run.scheduled_at)
        else:
            ids["run_id"] = _bounded(message.correlation_id or message.message_id, 64)
        reason = encodable(reason)[:4096]  # it may quote what the message held
        return JobRejected(**self._who, emitted_at=self._clock(), reason=reason, **ids)

    def online(self, queues: list[str], concurrency: int, executor: str, version: str) -> Event:
        """The worker started consuming."""
        return WorkerOnline(
            **self._who,
            emitted_at=self._clock(),
            queues=queues,
            concurrency=concurrency,
            executor=executor,
            version=version,
        )

    def heartbeat(self, queues: list[str], running: int, capacity: int) -> Event:
        """The worker is alive, with ``running`` of ``capacity`` slots busy."""
        return WorkerHeartbeat(
            **self._who,
            emitted_at=self._clock(),
            queues=queues,
            running=running,
            capacity=capacity,
        )

    def offline(self, reason: str = "shutdown") -> Event:
        """The worker stopped consuming."""
        return WorkerOffline(**self._who, emitted_at=self._clock(), reason=reason)


def _bounded(value: str | None, limit: int) -> str | None:
    return None if value is None else value[:limit]
