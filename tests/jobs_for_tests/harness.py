"""Test-side helpers for the worker tests: publish runs, watch events and dead letters.

Talks to the broker only through ``shared.broker`` (the one place allowed to use kombu).
Waiting is always "poll until a condition holds or a deadline passes, then fail with what
was seen", never a fixed sleep.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from dueq.shared.broker import BrokerConnection, IncomingMessage, OutgoingMessage
from dueq.shared.protocol import (
    Event,
    JobError,
    JobExecuted,
    JobStarted,
    RunRequest,
    decode_event,
    encode,
    make_run_id,
)
from dueq.shared.topology import Topology
from tests.support.waiting import wait_until

__all__ = ["JOBS", "BrokerProbe", "ago", "make_run"]

JOBS = "tests.jobs_for_tests.worker_jobs"


def make_run(
    func: str,
    *,
    job_id: str | None = None,
    args: Iterable[Any] = (),
    kwargs: dict[str, Any] | None = None,
    scheduled_at: datetime | None = None,
    misfire_grace_time: float | None = None,
    max_instances: int = 1,
    queue: str = "default",
    **control: Any,
) -> RunRequest:
    """A RunRequest as the scheduler would send it (unique job id unless given).

    ``control`` sets run-control fields (``attempt``, ``retry``, ``timeout``, ...).
    """
    job_id = job_id or f"job-{uuid.uuid4().hex[:8]}"
    scheduled_at = scheduled_at or datetime.now(UTC)
    return RunRequest(
        run_id=make_run_id(job_id, scheduled_at, control.get("attempt", 1)),
        job_id=job_id,
        job_name=job_id,
        func=func,
        args=list(args),
        kwargs=kwargs or {},
        scheduled_at=scheduled_at,
        published_at=datetime.now(UTC),
        misfire_grace_time=misfire_grace_time,
        max_instances=max_instances,
        queue=queue,
        epoch=1,
        **control,
    )


class BrokerProbe:
    """Publishes runs to a topology and collects what comes back on events and dead queues."""

    def __init__(
        self,
        url: str,
        topology: Topology,
        queues: Iterable[str] = ("default",),
        *,
        collect_dead: bool = True,
    ):
        self.topology = topology
        self.queues = list(queues)
        self.conn = BrokerConnection(url, name="dueq-test-probe")
        self.conn.connect()
        self.conn.declare_topology(topology, self.queues)
        self.publisher = self.conn.publisher()
        self.events: list[Event] = []
        self.event_messages: list[IncomingMessage] = []
        self.dead: list[IncomingMessage] = []
        self._events = self.conn.consumer(
            [topology.events_queue], prefetch=500, on_message=self._on_event
        )
        self._events.start()
        # Tests of the dead-letter tools leave the dead queue to them (collect_dead=False).
        self._dead = self.conn.consumer(
            [topology.dead_letter_queue], prefetch=100, on_message=self._on_dead
        )
        if collect_dead:
            self._dead.start()

    def _on_event(self, message: IncomingMessage) -> None:
        self.event_messages.append(message)
        self.events.append(decode_event(message.body))
        self._events.ack(message.delivery_tag)

    def _on_dead(self, message: IncomingMessage) -> None:
        self.dead.append(message)
        self._dead.ack(message.delivery_tag)

    def publish(self, *runs: RunRequest) -> None:
        """Publish runs exactly as the scheduler does (confirmed)."""
        self.publisher.publish_many([self.run_message(run) for run in runs])

    def run_message(self, run: RunRequest, body: bytes | None = None) -> OutgoingMessage:
        """The message carrying ``run`` (or ``body`` in its place)."""
        return OutgoingMessage(
            body=encode(run) if body is None else body,
            exchange=self.topology.runs_exchange,
            routing_key=self.topology.run_routing_key(run.queue),
            message_id=run.run_id,
            correlation_id=run.run_id,
            reply_to=self.topology.events_queue,
        )

    def publish_raw(self, body: bytes, *, message_id: str | None = None) -> None:
        """Publish an arbitrary body to the default run queue."""
        self.publisher.publish(
            OutgoingMessage(
                body=body,
                exchange=self.topology.runs_exchange,
                routing_key="default",
                message_id=message_id,
                correlation_id=message_id,
                reply_to=self.topology.events_queue,
            )
        )

    def pump(self, seconds: float = 0.05) -> None:
        """Receive whatever arrived within ``seconds``."""
        self.conn.drain_events(seconds)

    def wait_for(
        self, predicate: Callable[[list[Event]], bool], timeout: float, what: str
    ) -> list[Event]:
        """Receive events until ``predicate(all events so far)`` holds."""

        def seen() -> str:
            return f"; saw {[(e.event.value, getattr(e, 'run_id', None)) for e in self.events]}"

        wait_until(
            lambda: predicate(self.events), what, timeout=timeout, describe=seen, pause=self.pump
        )
        return self.events

    def of_run(self, run_id: str, event: str | None = None) -> list[Event]:
        """Events received about ``run_id`` (optionally of one type)."""
        return [
            e
            for e in self.events
            if getattr(e, "run_id", None) == run_id and (event is None or e.event == event)
        ]

    def starts(self, run_id: str) -> list[datetime]:
        """When ``run_id`` started, once per execution, as its events tell.

        A ``job_started``, or an outcome with no ``job_started`` of its worker before it: a
        short job's start is folded into its outcome (docs/protocol.md, "Folded starts").
        """
        started: list[datetime] = []
        open_starts: dict[str, int] = {}
        for event in self.of_run(run_id):
            if not isinstance(event, JobStarted | JobExecuted | JobError):
                continue
            going = open_starts.get(event.worker_id, 0)
            if isinstance(event, JobStarted):
                open_starts[event.worker_id] = going + 1
                started.append(event.started_at)
            elif going:
                open_starts[event.worker_id] = going - 1
            else:
                started.append(event.started_at)
        return started

    def wait_start(self, run_id: str, timeout: float = 15.0) -> datetime:
        """When ``run_id`` first started, waiting for a ``job_started`` or an outcome."""
        self.wait_for(lambda _: bool(self.starts(run_id)), timeout, f"a start of {run_id}")
        return self.starts(run_id)[0]

    def wait_event(self, run_id: str, event: str, timeout: float = 15.0) -> Event:
        """The first ``event`` about ``run_id``, waiting for it if needed."""
        self.wait_for(lambda _: bool(self.of_run(run_id, event)), timeout, f"{event} of {run_id}")
        return self.of_run(run_id, event)[0]

    def wait_dead(self, count: int, timeout: float = 15.0) -> list[IncomingMessage]:
        """Wait until ``count`` messages were dead-lettered."""
        wait_until(
            lambda: len(self.dead) >= count,
            f"{count} dead letters",
            timeout=timeout,
            describe=lambda: f"; got {len(self.dead)}",
            pause=self.pump,
        )
        return self.dead

    def of_type(self, event: str) -> list[Event]:
        """Events of one type received so far."""
        return [e for e in self.events if e.event == event]

    def depth(self, queue: str = "default") -> int:
        """Messages ready in a run queue."""
        return self.conn.queue_depth(self.topology.run_queue(queue))

    def close(self) -> None:
        """Stop consuming and delete every queue and exchange of the topology."""
        self._events.close()
        self._dead.close()
        self.conn.delete_topology(self.topology, self.queues)
        self.conn.close()


def ago(seconds: float) -> datetime:
    """A UTC time ``seconds`` in the past."""
    return datetime.now(UTC) - timedelta(seconds=seconds)
