"""The conformance kit: drive any dueq consumer, given as a command line, over the real broker.

A consumer is a process started from an argv template with ``{url}``, ``{prefix}`` and
``{queue}`` placeholders. The kit publishes RunRequests (and deliberately broken
messages) exactly as docs/protocol.md says the scheduler does, then reads what comes back
on the events queue and the dead-letter queue. Every event must validate against
docs/protocol/event.json *and* decode with ``shared.protocol.decode_event``; the first that
does not fails the test that is waiting.

Everything runs in the test's thread: ``Bus`` owns one ``BrokerConnection`` and pumps it
only while a test waits for something, always against a deadline, never by sleeping.

A consumer may fold a run's ``job_started`` into its outcome (docs/protocol.md, "Folded
starts"): an outcome with no ``job_started`` of its own before it stands for both, and the
kit lists the start it carries (``Received.folded``) in front of it, so a test states a run's
life the same way whichever a consumer sends.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from jsonschema import Draft202012Validator

from dueq.shared.broker import BrokerConnection, IncomingMessage, OutgoingMessage
from dueq.shared.errors import BrokerUnavailable, ProtocolError
from dueq.shared.protocol import (
    Event,
    JobStarted,
    RunRequest,
    decode_event,
    encode,
    make_run_id,
)
from dueq.shared.signing import RUN_TYPE, Signer
from dueq.shared.topology import Topology
from tests.conformance.conformance_process import REPO, ConsumerProcess
from tests.support.waiting import wait_until

__all__ = [
    "EVENT_TIMEOUT",
    "STARTUP_TIMEOUT",
    "Bus",
    "Harness",
    "Received",
    "new_prefix",
]

EVENT_SCHEMA = REPO / "docs" / "protocol" / "event.json"

# Not tests/conftest.py's "dqt-": its end-of-session sweep deletes every "dqt-" queue on
# the broker, including those of a test session still running beside it (seen here when
# several sessions share one broker). The kit deletes its own entities after each use.
TEST_PREFIX_STEM = "dqc-"
# Every consumer under test gets this as DUEQ_SIGNING_KEY: the kit signs every run it
# publishes and verifies the signature of every event it receives (docs/protocol.md#signing).
SIGNING_KEY = "conformance-kit-signing-key-0123456789abcdef"

# Seconds a consumer may take from exec to worker_online. Python with jsonschema and Node
# with ajv both start in well under a second; this leaves room for a loaded machine.
STARTUP_TIMEOUT = 20.0

# Seconds for a run's events to arrive once published (the jobs themselves are instant).
EVENT_TIMEOUT = 10.0

# How long one pump of the connection lasts while waiting.
_PUMP_SECONDS = 0.05
# Events that end a run's execution, and so may carry its start folded in.
_OUTCOMES = frozenset({"job_executed", "job_error"})
# What a job_started holds: every field of it is also in the outcome it is folded into.
_STARTED_FIELDS = frozenset(JobStarted.model_fields)

T = TypeVar("T")


def new_prefix() -> str:
    """A broker prefix no other test uses."""
    return f"{TEST_PREFIX_STEM}cf{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True, kw_only=True)
class Received:
    """One event from the events queue: the AMQP properties, the JSON, the decoded model."""

    message: IncomingMessage
    body: dict[str, Any]
    event: Event
    folded: bool = False  # a job_started the consumer folded into the outcome after it

    @property
    def name(self) -> str:
        return str(self.body["event"])

    @property
    def run_id(self) -> str | None:
        value = self.body.get("run_id")
        return value if isinstance(value, str) else None


class Bus:
    """The kit's side of the broker: publishes runs, collects events and dead letters."""

    def __init__(self, url: str, topology: Topology, queue: str) -> None:
        self.topology = topology
        self.queue = queue
        self.events: list[Received] = []
        self.dead: list[IncomingMessage] = []
        self._schema = Draft202012Validator(json.loads(EVENT_SCHEMA.read_text()))
        self._problems: list[str] = []
        self.signer = Signer(SIGNING_KEY)
        self._url = url
        self._connection = BrokerConnection(url, name="conformance-kit")
        self._connection.connect()
        self._connection.declare_topology(topology, [queue])
        self._publisher = self._connection.publisher()
        self._consumers = [
            self._connection.consumer(
                [topology.events_queue], prefetch=200, on_message=self._on_event
            ),
            self._connection.consumer(
                [topology.dead_letter_queue], prefetch=200, on_message=self._on_dead
            ),
        ]
        for consumer in self._consumers:
            consumer.start()

    @property
    def run_queue(self) -> str:
        return self.topology.run_queue(self.queue)

    def depth(self) -> int:
        """Runs ready in the run queue (unacknowledged ones return there when a consumer goes)."""
        return self._connection.queue_depth(self.run_queue)

    def close(self) -> None:
        """Stop consuming and delete every queue and exchange of the prefix.

        Deletion uses a connection of its own, so it happens even when this one was lost.
        """
        try:
            for consumer in self._consumers:
                consumer.cancel()
        except BrokerUnavailable:
            pass  # the connection is gone already; closing it below releases the socket
        finally:
            self._connection.close()
        with BrokerConnection(self._url, name="conformance-kit-cleanup") as cleanup:
            cleanup.delete_topology(self.topology, [self.queue])

    # --- publishing -----------------------------------------------------------------

    def run_request(self, func: str, **fields: Any) -> RunRequest:
        """A valid RunRequest for a fresh job id; ``fields`` override the defaults."""
        now = datetime.now(UTC)
        job_id = fields.pop("job_id", f"job-{uuid.uuid4().hex[:12]}")
        scheduled_at = fields.pop("scheduled_at", now)
        values: dict[str, Any] = {
            # Bound to the job, time and attempt, as the scheduler makes it (workers check).
            "run_id": make_run_id(job_id, scheduled_at, fields.get("attempt", 1)),
            "job_id": job_id,
            "job_name": job_id,
            "func": func,
            "scheduled_at": scheduled_at,
            "published_at": now,
            "queue": self.queue,
            "epoch": 1,
        }
        values.update(fields)
        return RunRequest(**values)

    def publish_runs(self, *runs: RunRequest) -> None:
        """Publish as the scheduler does: runs exchange, properties from the doc, confirmed."""
        self._publisher.publish_many([self._outgoing(encode(run), run.run_id) for run in runs])

    def publish_raw(self, body: bytes, message_id: str) -> None:
        """Publish arbitrary bytes with a RunRequest's properties (for bad messages), signed."""
        self._publisher.publish(self._outgoing(body, message_id))

    def publish_forged(
        self, body: bytes, message_id: str, *, signer: Signer | None, kind: str = RUN_TYPE
    ) -> None:
        """Publish ``body`` unsigned (``signer=None``) or signed by ``signer`` as type ``kind``."""
        headers = signer.headers(kind, body) if signer is not None else {}
        message = self._outgoing(body, message_id)
        self._publisher.publish(dataclasses.replace(message, type=kind, headers=headers))

    def publish_replying_elsewhere(self, run: RunRequest, reply_to: str) -> None:
        """Publish ``run`` (signed) with ``reply_to`` naming another queue."""
        message = self._outgoing(encode(run), run.run_id)
        self._publisher.publish(dataclasses.replace(message, reply_to=reply_to))

    def _outgoing(self, body: bytes, message_id: str) -> OutgoingMessage:
        return OutgoingMessage(
            body=body,
            exchange=self.topology.runs_exchange,
            routing_key=self.topology.run_routing_key(self.queue),
            message_id=message_id,
            correlation_id=message_id,
            reply_to=self.topology.events_queue,
            type=RUN_TYPE,
            headers=self.signer.headers(RUN_TYPE, body),
            content_type="application/json",
            persistent=True,
        )

    # --- receiving ------------------------------------------------------------------

    def wait_for(
        self,
        found: Callable[[], T | None],
        what: str,
        *,
        timeout: float = EVENT_TIMEOUT,
        consumer: ConsumerProcess | None = None,
    ) -> T:
        """Pump the connection until ``found()`` returns something, or fail saying ``what``.

        Fails at once if the consumer sent a malformed event or (when given) exited.
        """

        def check() -> T | None:
            self._raise_problems(consumer)
            result = found()
            if result is None and consumer is not None:
                consumer.assert_alive()
            return result

        return wait_until(
            check,
            what,
            timeout=timeout,
            interval=_PUMP_SECONDS,
            describe=lambda: self._seen(consumer),
            pause=self._connection.drain_events,
        )

    def wait_event(
        self,
        name: str,
        *,
        run_id: str | None = None,
        consumer: ConsumerProcess | None = None,
        timeout: float = EVENT_TIMEOUT,
        where: Callable[[Received], bool] | None = None,
    ) -> Received:
        """The first ``name`` event (about ``run_id``, if given) matching ``where``."""

        def first() -> Received | None:
            for received in self.events:
                if received.name != name or (run_id is not None and received.run_id != run_id):
                    continue
                if where is None or where(received):
                    return received
            return None

        about = f" about run {run_id}" if run_id else ""
        return self.wait_for(first, f"{name}{about}", timeout=timeout, consumer=consumer)

    def wait_dead(
        self, message_id: str, consumer: ConsumerProcess | None = None
    ) -> IncomingMessage:
        """The dead-lettered copy of the message published with ``message_id``."""

        def find() -> IncomingMessage | None:
            return next((m for m in self.dead if m.message_id == message_id), None)

        return self.wait_for(find, f"dead letter {message_id}", consumer=consumer)

    def about(self, run_id: str) -> list[str]:
        """Names of every event received so far about ``run_id``, in arrival order."""
        return [r.name for r in self.events if r.run_id == run_id]

    def barrier(self, consumer: ConsumerProcess) -> None:
        """Publish an echo run and await its outcome: runs published before it are handled.

        RabbitMQ delivers a queue's messages in order, and every consumer decides about a
        message (duplicate? late? slot?) as it receives it, so once a later run has
        finished, the earlier messages have been decided.
        """
        run = self.run_request("conformance.echo")
        self.publish_runs(run)
        self.wait_event("job_executed", run_id=run.run_id, consumer=consumer)

    def _on_event(self, message: IncomingMessage) -> None:
        try:
            received = self._check(message)
            self.events.extend([*self._folded_start(received), received])
        except (AssertionError, ProtocolError, ValueError) as exc:
            self._problems.append(f"{exc}\n  body: {message.body[:2000]!r}")
        self._consumers[0].ack(message.delivery_tag)

    def _on_dead(self, message: IncomingMessage) -> None:
        self.dead.append(message)
        self._consumers[1].ack(message.delivery_tag)

    def _check(self, message: IncomingMessage) -> Received:
        """Signature, schema, decode_event and the AMQP properties docs/protocol.md requires."""
        self.signer.verify(message.type, message.body, message.headers)
        body = json.loads(message.body)
        errors = [f"{list(e.path)}: {e.message}" for e in self._schema.iter_errors(body)]
        assert not errors, f"event breaks docs/protocol/event.json: {errors[:3]}"
        event = decode_event(message.body)
        assert message.content_type == "application/json", f"content_type {message.content_type!r}"
        assert message.type == body["event"], f"type {message.type!r} is not {body['event']!r}"
        if "run_id" in body and body["event"] != "job_rejected":
            assert message.correlation_id == body["run_id"], (
                f"correlation_id {message.correlation_id!r} is not the run_id {body['run_id']!r}"
            )
        return Received(message=message, body=body, event=event)

    def _folded_start(self, received: Received) -> list[Received]:
        """The ``job_started`` an outcome stands for, when its consumer sent none before it."""
        if received.name not in _OUTCOMES:
            return []
        key = (received.run_id, received.body["worker_id"])
        of_worker = [r.name for r in self.events if (r.run_id, r.body["worker_id"]) == key]
        if of_worker.count("job_started") > sum(name in _OUTCOMES for name in of_worker):
            return []
        fields = _STARTED_FIELDS & received.body.keys()
        body = {name: received.body[name] for name in fields} | {"event": "job_started"}
        event = decode_event(json.dumps(body).encode())
        return [Received(message=received.message, body=body, event=event, folded=True)]

    def _raise_problems(self, consumer: ConsumerProcess | None) -> None:
        if self._problems:
            log = consumer.log_tail() if consumer else ""
            raise AssertionError(f"the consumer sent a bad event: {self._problems[0]}{log}")

    def _seen(self, consumer: ConsumerProcess | None) -> str:
        """The tail of a timeout message: the last events received and the consumer's log."""
        seen = [(r.name, r.run_id) for r in self.events[-20:]]
        log = consumer.log_tail() if consumer else ""
        return f"; last events: {seen}{log}"


@dataclass(frozen=True, kw_only=True)
class Harness:
    """A consumer running against a prefix of its own, and the kit's side of the broker."""

    bus: Bus
    consumer: ConsumerProcess
    online: Received
