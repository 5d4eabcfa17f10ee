"""The broker thread: the only thread that touches the worker's ``BrokerConnection``.

It consumes (prefetch = concurrency x prefetch_multiplier, manual acks), parses each
delivery and either dead-letters it or hands it to the gate (every delivery of one read
as one batch, claimed together; a run that arrived before its time is held until it is
due first, see ``hold``: by the gate with a database, else here), publishes what the other
threads put in the outbox (events, republished runs) with one round of confirms per
batch, and only then acks them all together.  It reconnects after a lost connection
(tenacity, every attempt logged) and drives the graceful stop.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dueq.shared.broker import (
    BrokerConnection,
    Consumer,
    DeliveryTagError,
    IncomingMessage,
    OutgoingMessage,
    Publisher,
    PublishError,
    TopologyError,
    dead_letter,
)
from dueq.shared.broker.resend import publish_resending_nacked
from dueq.shared.errors import BrokerUnavailable, ConfigError
from dueq.shared.metrics import NO_METRICS, Metrics
from dueq.shared.retry import retrying
from dueq.shared.signing import Signer
from dueq.shared.topology import Topology
from dueq.worker import checks
from dueq.worker.admission import Gate
from dueq.worker.executors import Executor
from dueq.worker.folding import StartFolder
from dueq.worker.hold import HoldQueue
from dueq.worker.outbox import Outbound, Outbox, Settle
from dueq.worker.registry import Registry
from dueq.worker.reporter import Reporter
from dueq.worker.slots import SlotPool

__all__ = ["BrokerLoop", "LoopConfig"]

log = logging.getLogger(__name__)

# Socket wait while nothing is in flight (or on RabbitMQ, where the outbox wakes it): a
# delivery wakes it at once, so this only bounds how late a heartbeat or a stop request
# is noticed.
_IDLE_POLL_S = 0.25
# memory://: the wait while runs are in flight starts tiny (an outcome is usually
# milliseconds away) and doubles up to the maximum while nothing happens, so long jobs
# cost no CPU.
_MIN_BUSY_POLL_S = 0.0005
_MAX_BUSY_POLL_S = 0.05
# A "look, don't wait" read (0 would switch the socket to non-blocking mode).
_NO_WAIT_S = 0.0001
# Wait for an outcome when the broker cannot send more (every prefetch slot used).
_SATURATED_WAIT_S = 0.05


def _capped(wait: float, until_held: float | None) -> float:
    """``wait``, shortened so the broker thread is awake when the next held run is due."""
    return wait if until_held is None else max(min(wait, until_held), _NO_WAIT_S)


def _earliest(*seconds: float | None) -> float | None:
    """The smallest of the waits that are set, or None."""
    return min((s for s in seconds if s is not None), default=None)


class _Stopping(Exception):
    """Raised inside a reconnect attempt when a stop was requested meanwhile."""


@dataclass(frozen=True, kw_only=True)
class LoopConfig:
    """What the broker thread needs to know besides its collaborators."""

    broker_url: str
    connection_name: str
    topology: Topology
    queues: tuple[str, ...]
    prefetch: int
    heartbeat_interval: float
    shutdown_timeout: float
    version: str
    signer: Signer | None = None


class BrokerLoop:
    """Runs in one thread from ``run`` until ``stop`` is set and the drain is done."""

    def __init__(
        self,
        config: LoopConfig,
        *,
        registry: Registry,
        executor: Executor,
        reporter: Reporter,
        outbox: Outbox,
        gate: Gate,
        slots: SlotPool,
        running: Callable[[], int],
        metrics: Metrics = NO_METRICS,
        hold: HoldQueue | None = None,
    ) -> None:
        self._config = config
        self._metrics = metrics
        self._registry = registry
        self._executor = executor
        self._reporter = reporter
        self._outbox = outbox
        self._gate = gate
        self._slots = slots
        self._running = running
        self._hold = hold if hold is not None else HoldQueue()
        self._conn = BrokerConnection(config.broker_url, name=config.connection_name)
        self._publisher: Publisher | None = None
        self._consumer: Consumer | None = None
        self._generation = 0
        self._inbox: deque[tuple[int, IncomingMessage]] = deque()
        self._held: list[Outbound] = []  # taken from the outbox, not yet confirmed
        self._folder = StartFolder()
        self._poll = _MIN_BUSY_POLL_S
        self._next_heartbeat = 0.0

    # -- lifecycle ------------------------------------------------------------------

    def run(self, stop: threading.Event, started: Callable[[], None]) -> None:
        """Connect, announce, serve until ``stop``, then drain and say goodbye."""
        try:
            self._connect_retrying(stop)
            self._outbox.put(Outbound((self._online(),)))
            started()
            self._serve_with_reconnects(stop)
            self._shutdown()
        except _Stopping:
            log.info("stop requested while the broker was unreachable")
        finally:
            self._conn.close()
            self._outbox.waker.close()
            self._release_waiters()

    def _serve_with_reconnects(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self._serve(stop)
            except BrokerUnavailable as exc:
                log.warning(
                    "%s lost the broker connection: %s; reconnecting",
                    self._config.connection_name,
                    exc,
                )
                self._metrics.reconnected("worker")
                self._forget_deliveries()
                self._connect_retrying(stop)

    def _connect_retrying(self, stop: threading.Event) -> None:
        def attempt() -> None:
            if stop.is_set():
                raise _Stopping
            self._connect()

        retrying("broker", log)(attempt)

    def _connect(self) -> None:
        config = self._config
        self._conn.connect()
        self._conn.declare_topology(config.topology, config.queues)
        self._generation += 1
        consumer = self._conn.consumer(
            [config.topology.run_queue(q) for q in config.queues],
            prefetch=config.prefetch,
            on_message=functools.partial(self._received, self._generation),
        )
        consumer.start()
        self._consumer = consumer
        self._publisher = self._publisher or self._conn.publisher()
        log.info(
            "consuming %s at %s (prefetch %d)",
            ", ".join(config.queues),
            self._conn.node_redacted,
            config.prefetch,
        )

    def _forget_deliveries(self) -> None:
        """After a lost connection the broker redelivers what we held; drop our copies."""
        self._inbox.clear()
        dropped = self._hold.take_all() + self._gate.take_back()
        if dropped:
            log.info("%d unstarted runs will be redelivered by the broker", len(dropped))

    # -- serving --------------------------------------------------------------------

    def _received(self, generation: int, message: IncomingMessage) -> None:
        self._inbox.append((generation, message))

    def _serve(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self._wait()
            self._dispatch_inbox()
            self._release_held()
            self._flush()
            self._tick()

    def _wait(self) -> None:
        """Sleep until there is something to do: a frame, work in the outbox, a held run.

        On RabbitMQ the socket wait also ends when another thread puts work in the
        outbox (its ``waker``).  memory:// has no socket to wait on: there the wait is a
        short read, doubled while nothing happens (``_poll``).
        """
        until_held = _earliest(
            self._hold.seconds_to_next(), self._folder.seconds_to_next(time.monotonic())
        )
        wakeable = self._conn.wakeable
        in_gate = None if wakeable else self._gate.seconds_to_release()
        if in_gate is not None:
            # Awake when the gate claims a held run, to ack it and refill the window.
            in_gate = max(in_gate, _MIN_BUSY_POLL_S)
            until_held = in_gate if until_held is None else min(until_held, in_gate)
        if self._inbox or self._held or not self._outbox.empty() or until_held == 0:
            self._conn.drain_events(_NO_WAIT_S)
        elif self._saturated():
            self._held.extend(self._outbox.take(timeout=_capped(_SATURATED_WAIT_S, until_held)))
            self._conn.drain_events(_NO_WAIT_S)
        elif wakeable:
            self._conn.wait(_capped(_IDLE_POLL_S, until_held), self._outbox.waker)
        elif self._slots.busy == 0 and self._running() == 0 and self._gate.pending == 0:
            self._conn.drain_events(_capped(_IDLE_POLL_S, until_held))
        elif self._conn.drain_events(_capped(self._poll, until_held)) or not self._outbox.empty():
            self._poll = _MIN_BUSY_POLL_S
        else:
            self._poll = min(self._poll * 2, _MAX_BUSY_POLL_S)

    def _saturated(self) -> bool:
        consumer = self._consumer
        limit = self._config.prefetch * len(self._config.queues)
        return consumer is not None and consumer.unacked >= limit

    def _dispatch_inbox(self) -> None:
        """Parse everything received; hand the runs due now to the gate as one batch."""
        batch = []
        while self._inbox:
            generation, message = self._inbox.popleft()
            try:
                delivery = checks.parse(
                    message,
                    self._registry,
                    self._executor,
                    self._config.signer,
                    generation=generation,
                )
            except checks.Rejected as exc:
                self._reject(generation, message, exc)
                continue
            if self._gate.holds_early or not self._hold.hold(delivery):
                batch.append(delivery)
        self._gate.submit(batch)

    def _release_held(self) -> None:
        """Hand the runs whose ``scheduled_at`` has come to the gate (see ``hold``)."""
        self._gate.submit(self._hold.release_due())

    def _reject(self, generation: int, message: IncomingMessage, exc: checks.Rejected) -> None:
        log.warning(
            "rejecting message %s from %r: %s", message.message_id, message.routing_key, exc.reason
        )
        try:
            event = self._reporter.rejected(message, exc.reason, exc.run)
            report: tuple[OutgoingMessage, ...] = (self._reporter.message(event),)
        except Exception:  # a last guard: this is the broker thread, it must live on
            log.exception("cannot report the rejection of message %s", message.message_id)
            report = ()  # dead-lettered all the same, with its reason
        self._outbox.put(
            Outbound(report, message, generation, Settle.DEAD_LETTER, reason=exc.reason)
        )

    def _tick(self) -> None:
        now = time.monotonic()
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + self._config.heartbeat_interval
            event = self._reporter.heartbeat(
                list(self._config.queues), self._running(), self._slots.size
            )
            self._outbox.put(Outbound((self._reporter.message(event),)))
            self._sample()

    def _sample(self) -> None:
        """Claims held and queue depths for the metrics, once per heartbeat."""
        if self._metrics is NO_METRICS:
            return  # a queue depth costs a broker round trip: only when someone looks
        self._metrics.claims_held(self._running())
        for queue in self._config.queues:
            try:
                depth = self._conn.queue_depth(self._config.topology.run_queue(queue))
            except TopologyError:
                continue  # deleted under us: the consumer's cancel handling reconnects
            self._metrics.queue_depth(queue, depth)

    # -- publishing and settling ----------------------------------------------------

    def _flush(self, *, final: bool = False) -> None:
        """Publish everything waiting (one round of confirms), then settle deliveries.

        Starts wait a moment for their runs' outcomes (``folding``); ``final`` sends the
        ones still held (the worker is stopping).
        """
        waiting = [*self._held, *self._outbox.take()]
        self._held = self._folder.sort(waiting, time.monotonic())
        if final:
            self._held += self._folder.take_all()
        if not self._held:
            return
        items = self._held
        for item in items:
            if item.settle is Settle.DEAD_LETTER and self._current(item):
                self._dead_letter(item)
        self._publish([m for item in items if self._still_wanted(item) for m in item.messages])
        self._settle(items)
        self._held = []
        for item in items:
            if item.then is not None:
                item.then()
            if item.done is not None:
                item.done.set()

    def _current(self, item: Outbound) -> bool:
        return item.delivery is not None and item.generation == self._generation

    def _still_wanted(self, item: Outbound) -> bool:
        # A rejection from a lost connection will be redelivered and reported again.
        return item.settle is not Settle.DEAD_LETTER or self._current(item)

    def _dead_letter(self, item: Outbound) -> None:
        assert item.delivery is not None
        assert self._publisher is not None
        message = item.delivery
        try:
            dead_letter(
                self._publisher,
                self._config.topology,
                message,
                reason=item.reason,
                source_queue=self._source_queue(message),
            )
        except PublishError as exc:
            log.error("cannot dead-letter message %s with its reason: %s", message.message_id, exc)

    def _source_queue(self, message: IncomingMessage) -> str:
        try:
            return self._config.topology.run_queue(message.routing_key)
        except ConfigError:
            return message.routing_key

    def _publish(self, messages: Sequence[OutgoingMessage]) -> None:
        """Publish events with confirms; what the broker nacked is sent again.

        Every event goes to the events queue (a run's ``reply_to`` is not followed).  One
        nacked there cannot wait to be sent later, since its run is settled right after
        this: it is sent again after a short pause (``shared.broker.resend``), and what
        still fails is logged as lost.
        """
        if not messages:
            return
        assert self._publisher is not None
        try:
            publish_resending_nacked(self._publisher, messages)
        except PublishError as exc:
            log.error("events lost: %s", exc)

    def _settle(self, items: Sequence[Outbound]) -> None:
        """Requeue or ack the current deliveries of ``items``; acks go out together."""
        consumer = self._consumer
        if consumer is None:
            return
        acks = []
        for item in items:
            if item.settle is Settle.NOTHING or not self._current(item):
                continue
            assert item.delivery is not None
            if item.settle is Settle.REQUEUE:
                self._requeue(consumer, item.delivery.delivery_tag)
            else:
                acks.append(item.delivery.delivery_tag)
        try:
            consumer.ack_many(acks)
        except DeliveryTagError as exc:
            log.error("cannot settle a delivery: %s", exc)

    def _requeue(self, consumer: Consumer, tag: int) -> None:
        try:
            consumer.reject(tag, requeue=True)
        except DeliveryTagError as exc:
            log.error("cannot settle a delivery: %s", exc)

    # -- stopping -------------------------------------------------------------------

    def _shutdown(self) -> None:
        """Stop consuming, hand back unstarted runs, wait for running ones, say offline."""
        try:
            self._hand_back_unstarted()
            deadline = time.monotonic() + self._config.shutdown_timeout
            while self._slots.alive() and time.monotonic() < deadline:
                self._conn.drain_events(0.01 if self._outbox.empty() else _NO_WAIT_S)
                self._flush()
            if self._slots.alive():
                log.warning(
                    "%d run(s) still running after the %.0f s shutdown timeout; they are "
                    "left to the broker (no database) or to the claim reaper",
                    self._running(),
                    self._config.shutdown_timeout,
                )
            self._flush(final=True)
            self._outbox.put(Outbound((self._reporter.message(self._reporter.offline()),)))
            self._flush()
            if self._consumer is not None:
                self._consumer.close()
        except BrokerUnavailable as exc:
            log.warning("broker connection lost while stopping: %s", exc)

    def _hand_back_unstarted(self) -> None:
        consumer = self._consumer
        if consumer is not None:
            consumer.cancel()
        self._dispatch_inbox()  # parse what arrived so bad messages are still dead-lettered
        unstarted = self._hold.take_all() + self._gate.close()
        self._slots.close()
        for delivery in unstarted:
            self._outbox.put(Outbound((), delivery.message, delivery.generation, Settle.REQUEUE))
        if unstarted:
            log.info("handing %d unstarted run(s) back to the broker", len(unstarted))

    def _release_waiters(self) -> None:
        """Wake slot threads waiting for a confirm that will never come (we are gone)."""
        for item in [*self._held, *self._outbox.take()]:
            if item.done is not None:
                item.done.set()

    def _online(self) -> OutgoingMessage:
        config = self._config
        event = self._reporter.online(
            list(config.queues), self._slots.size, self._executor.kind, config.version
        )
        return self._reporter.message(event)
