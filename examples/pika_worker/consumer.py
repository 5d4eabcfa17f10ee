"""The consumer: one message at a time through the steps of docs/protocol.md, in order.

parse → allowed? → duplicate? → misfire? → instance slot? → run → report → acknowledge.

pika's connection is not thread-safe, so one thread (the one calling ``Worker.run``) owns
it and does all the AMQP work; jobs run on their own threads and hand their outcome back
through ``add_callback_threadsafe``. The broker never gives this consumer more than
``concurrency`` unacknowledged runs (``basic.qos``), and a run is acknowledged only after
its outcome event is confirmed, so at most ``concurrency`` job threads exist at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pika

from examples.pika_worker.broker import (
    Layout,
    Publisher,
    connection_parameters,
    declare_layout,
    redact_url,
)
from examples.pika_worker.events import Identity, Outcome
from examples.pika_worker.protocol import (
    DEFAULT_SCHEMA_DIR,
    BadMessage,
    Run,
    Schemas,
    parse_run,
)
from examples.pika_worker.signing import verify

__all__ = ["Worker", "WorkerConfig"]

log = logging.getLogger("pika_worker")

# How long one wait for broker traffic lasts: bounds how late a stop request or a due
# heartbeat is noticed.
POLL_SECONDS = 0.2

# Run ids remembered for deduplication. A duplicate arrives soon after the original (a
# scheduler republish or a redelivery), so the newest hundred thousand are plenty.
SEEN_RUN_IDS = 100_000

Jobs = dict[str, Callable[..., Any]]


@dataclass(frozen=True, kw_only=True)
class WorkerConfig:
    """Everything the command line can set."""

    url: str
    prefix: str = "dueq"
    queue: str = "default"
    queue_type: str = "quorum"
    concurrency: int = 4
    heartbeat_interval: float = 10.0
    shutdown_timeout: float = 30.0
    schema_dir: Path = DEFAULT_SCHEMA_DIR
    # DUEQ_SIGNING_KEY: verify every run and sign every event (docs/protocol.md#signing).
    signing_key: bytes | None = None


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """What the broker said about one message, besides its body."""

    tag: int
    redelivered: bool
    routing_key: str
    properties: Any = field(repr=False)


class Worker:
    """Consumes one run queue until ``stop`` is called (from a signal handler, say)."""

    def __init__(self, config: WorkerConfig, jobs: Jobs, identity: Identity | None = None):
        self._config = config
        self._jobs = jobs
        self._identity = identity or Identity()
        self._layout = Layout(
            prefix=config.prefix, queue=config.queue, queue_type=config.queue_type
        )
        self._schemas = Schemas(config.schema_dir)
        self._stopping = threading.Event()
        self._running: Counter[str] = Counter()  # job_id -> runs in progress here
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._in_flight: set[int] = set()  # delivery tags of runs started, not yet reported
        self._connection: Any = None
        self._channel: Any = None
        self._publisher: Publisher | None = None

    def stop(self) -> None:
        """Ask ``run`` to stop taking messages and return; safe from a signal handler."""
        self._stopping.set()

    def run(self) -> None:
        """Connect, declare, consume until stopped, then finish running jobs and say goodbye."""
        log.info("connecting to %s", redact_url(self._config.url))
        self._connection = pika.BlockingConnection(connection_parameters(self._config.url))
        try:
            self._channel = self._connection.channel()
            declare_layout(self._channel, self._layout)
            self._publisher = Publisher(self._channel, self._layout, self._config.signing_key)
            self._channel.basic_qos(prefetch_count=self._config.concurrency)
            tag = self._channel.basic_consume(self._layout.run_queue, self._on_message)
            self._say_online()
            self._serve()
            self._hand_back(self._channel.basic_cancel(tag))
            self._drain()
            self._publish(self._identity.base("worker_offline") | {"reason": "shutdown"})
        finally:
            if self._connection.is_open:
                self._connection.close()  # unacknowledged runs return to the queue

    def _serve(self) -> None:
        interval = self._config.heartbeat_interval
        next_beat = time.monotonic() + interval
        while not self._stopping.is_set():
            self._connection.process_data_events(time_limit=POLL_SECONDS)
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + interval
                self._publish(self._liveness("worker_heartbeat"))

    def _hand_back(self, pending: list[Any]) -> None:
        """Requeue the runs delivered but never started: ``basic.cancel`` returns them.

        Left unacknowledged they would wait for this connection to close (after the
        shutdown timeout); nacked with requeue they go to another consumer at once.
        """
        for method, _properties, _body in pending:
            self._channel.basic_nack(method.delivery_tag, requeue=True)
        if pending:
            log.info("handed %d unstarted runs back to the queue", len(pending))

    def _drain(self) -> None:
        """Let running jobs finish (and be reported) within the shutdown timeout."""
        deadline = time.monotonic() + self._config.shutdown_timeout
        while self._running.total() and time.monotonic() < deadline:
            self._connection.process_data_events(time_limit=POLL_SECONDS)
        if self._running.total():
            log.warning(
                "%d runs still going at shutdown; the broker will redeliver them",
                self._running.total(),
            )

    def _say_online(self) -> None:
        body = self._identity.base("worker_online")
        body.update(
            queues=[self._config.queue],
            concurrency=self._config.concurrency,
            executor="thread",
            version="pika-example-1",
        )
        self._publish(body)
        log.info("consuming %s as %s", self._layout.run_queue, self._identity.worker_id)

    def _liveness(self, event: str) -> dict[str, Any]:
        body = self._identity.base(event)
        body.update(
            queues=[self._config.queue],
            running=self._running.total(),
            capacity=self._config.concurrency,
        )
        return body

    # --- one message, step by step --------------------------------------------------

    def _on_message(self, _channel: Any, method: Any, properties: Any, body: bytes) -> None:
        delivery = Delivery(
            tag=method.delivery_tag,
            redelivered=bool(method.redelivered),
            routing_key=method.routing_key,
            properties=properties,
        )
        try:
            key = self._config.signing_key
            refusal = verify(key, properties, body) if key else None
            if refusal is not None:  # before a byte of the body is parsed
                message_id = properties.message_id
                raise BadMessage(refusal, {"message_id": message_id[:255]} if message_id else {})
            run = parse_run(body, self._schemas, properties.message_id)
            if run.func not in self._jobs:
                raise BadMessage(f"function {run.func!r} is not allowed on this worker", run.ids)
        except BadMessage as bad:
            self._reject(body, delivery, bad)
            return
        self._admit(run, delivery)

    def _admit(self, run: Run, delivery: Delivery) -> None:
        """Steps 3-6: drop duplicates, refuse late runs and full slots, start the rest."""
        flags = {"redelivered": delivery.redelivered}
        if run.run_id in self._seen:
            log.info("run %s is a duplicate; dropped", run.run_id)
            self._channel.basic_ack(delivery.tag)
            return
        self._remember(run.run_id)
        now = datetime.now(UTC)
        lateness = (now - run.scheduled_at).total_seconds()
        grace = run.misfire_grace_time
        following = run.next_scheduled_at
        if grace is not None and lateness > grace:
            self._publish(self._identity.missed(run, lateness, **flags))
        elif run.coalesce and following is not None and following <= now:
            # A newer run of this coalescing job is already due: only the newest runs.
            self._publish(self._identity.coalesced(run, lateness, **flags))
        elif (running := self._running[run.job_id]) >= run.max_instances and (
            run.overlap != "allow_all"
        ):
            self._publish(self._identity.max_instances(run, running, **flags))
        else:
            self._running[run.job_id] += 1
            self._in_flight.add(delivery.tag)
            self._publish(self._identity.started(run, now, lateness, **flags))
            call = partial(self._call, run, delivery, lateness)
            threading.Thread(target=call, name=f"run-{run.run_id}", daemon=True).start()
            if run.timeout is not None:
                # A thread cannot be stopped: past its timeout the run is reported timed
                # out and its slot freed; its late outcome is then ignored.
                expire = partial(self._time_out, run, delivery, lateness, now)
                self._connection.call_later(run.timeout, expire)
            return
        self._channel.basic_ack(delivery.tag)

    def _call(self, run: Run, delivery: Delivery, lateness: float) -> None:
        """On a job thread: call the function, then hand the outcome to the AMQP thread."""
        started_at = datetime.now(UTC)
        try:
            retval, error = self._jobs[run.func](*run.args, **run.kwargs), None
        except Exception as exc:  # the job's failure is reported, never fatal
            retval, error = None, exc
        outcome = Outcome(
            started_at=started_at, finished_at=datetime.now(UTC), retval=retval, error=error
        )
        report = partial(self._report, run, delivery, lateness, outcome)
        self._connection.add_callback_threadsafe(report)

    def _time_out(self, run: Run, delivery: Delivery, lateness: float, started: datetime) -> None:
        outcome = Outcome(started_at=started, finished_at=datetime.now(UTC), timed_out=True)
        self._report(run, delivery, lateness, outcome)

    def _report(self, run: Run, delivery: Delivery, lateness: float, outcome: Outcome) -> None:
        """Step 6-7 on the AMQP thread: publish the outcome (confirmed), then acknowledge."""
        if delivery.tag not in self._in_flight:
            return  # the run timed out and was reported then; this is its late outcome
        self._in_flight.discard(delivery.tag)
        flags = {"redelivered": delivery.redelivered}
        self._publish(self._identity.finished(run, outcome, lateness, **flags))
        self._channel.basic_ack(delivery.tag)
        self._running[run.job_id] -= 1
        if self._running[run.job_id] <= 0:
            del self._running[run.job_id]

    def _reject(self, body: bytes, delivery: Delivery, bad: BadMessage) -> None:
        """Bad messages: dead-letter with the reason, report job_rejected, acknowledge."""
        log.warning("dead-lettering message %s: %s", delivery.properties.message_id, bad.reason)
        assert self._publisher is not None
        self._publisher.dead_letter(body, delivery.properties, delivery.routing_key, bad.reason)
        self._publish(self._identity.rejected(bad.reason, bad.ids))
        self._channel.basic_ack(delivery.tag)

    def _publish(self, body: dict[str, Any]) -> None:
        assert self._publisher is not None
        self._schemas.check_event(body)
        self._publisher.event(body)

    def _remember(self, run_id: str) -> None:
        self._seen[run_id] = None
        if len(self._seen) > SEEN_RUN_IDS:
            self._seen.popitem(last=False)
