"""The events consumer: worker reports -> run history -> every scheduler's listeners.

Runs in its own thread with its own ``BrokerConnection``, and only while this process is
the leader, so history is written once.  Each message is decoded (a bad one is logged and
dead-lettered, never fatal); decoded events are gathered into a batch, written to the
history in one transaction (retried while the database is down: the events wait in the
queue), published with confirms on the listeners exchange for every running scheduler's
listeners (``producer.feed``), and only then acknowledged together.  A batch closes when
it holds ``prefetch`` events, when the queue goes quiet for ``_QUIET_S``, or when its first
event has waited ``_BATCH_AGE_S``: a backlog (the outcomes of a burst) is recorded in batches
as large as the prefetch, each a transaction, a publish and an ack however many events it
holds, while a steady stream that never goes quiet still reaches history and listeners
within about ``_BATCH_AGE_S``.

While the loop publishes a burst (``publishing_burst`` is set: its batches come back full),
the consumer stops taking events: recording 20k events while a 10k burst goes out took
50-65% of the process's GIL (py-spy), and the loop, in the same process, waited for it.  It
stays aside after the burst's last batch for ``_SETTLE_FACTOR`` times as long as the burst
took to publish, while the workers are still being handed and starting its runs: recording
their outcomes then competes with them for the broker (and, on a shared machine, for the
cores).  The events wait in their durable queue; history and listeners hear of them after
the pause, which never lasts more than ``_YIELD_MAX_S`` from the burst's start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from dueq.producer.clock import Clock
from dueq.producer.feed import outcome_messages
from dueq.producer.history.base import RunHistory
from dueq.producer.retries import Stopped, retry_until_stopped
from dueq.producer.retryplan import plan_retries
from dueq.producer.retrystore import RetryStore
from dueq.shared.broker import BrokerConnection, Consumer, IncomingMessage, Publisher, dead_letter
from dueq.shared.errors import ProtocolError, ServiceUnavailable
from dueq.shared.inbound import open_event
from dueq.shared.metrics import NO_METRICS, Metrics
from dueq.shared.protocol import Event
from dueq.shared.signing import Signer
from dueq.shared.topology import Topology

__all__ = ["EventsConsumer"]

logger = logging.getLogger(__name__)

# Longest wait between checks of the stop and leadership flags.
_SLICE_S = 0.2
# Longest wait for this process's listener feed before consuming anyway.
_FEED_WAIT_S = 5.0
# Pause after an unexpected error before consuming again.
_ERROR_PAUSE_S = 1.0
# With events in hand, this long without another one closes the batch: short enough that
# a lone event reaches history and listeners at once, long enough to gather a burst.
_QUIET_S = 0.01
# With events in hand, the longest the first of them waits for the batch to close.  At 1,000
# events/s the queue is never quiet for _QUIET_S, so without this bound a batch would wait
# for ``prefetch`` events (half a second at the default 500).  Batches of 500 instead of
# 100 cut the events thread's CPU during a 10k burst's outcomes by about a tenth
# (tests/bench/RESULTS.md, tenth round).
_BATCH_AGE_S = 0.1
# Longest pause in recording from a burst's start, then recording goes on even if the burst
# does not end (an overloaded loop whose batches are always full must not stop history for
# good).  A 10k-run burst and its settling reach it; recording then resumes.
_YIELD_MAX_S = 2.0
# After the burst's last batch, the pause goes on for this many times the burst's own length:
# its runs are still being delivered and started about that long.  A 10k burst beside
# production-mode workers reaches _YIELD_MAX_S this way and was all started 1.42 s after its
# instant on average, against 1.71 s resuming at once (twelve alternating pairs,
# tests/bench/RESULTS.md); a burst of one full batch pauses recording for a tick or so.
_SETTLE_FACTOR = 2.0
# The pause is checked this often, so recording resumes about that soon after it ends.
_YIELD_SLICE_S = 0.02


@dataclass(frozen=True)
class _Pending:
    """A decoded event waiting in the current batch, with the delivery to acknowledge."""

    event: Event
    message: IncomingMessage


class EventsConsumer:
    """Consumes the events queue while ``leading`` is set, until ``stopping`` is set."""

    def __init__(
        self,
        *,
        broker_url: str,
        topology: Topology,
        history: RunHistory,
        retries: RetryStore | None = None,
        on_retry: Callable[[], None] | None = None,
        leading: threading.Event,
        publishing_burst: threading.Event | None = None,
        feed_ready: threading.Event,
        stopping: threading.Event,
        clock: Clock,
        prefetch: int,
        metrics: Metrics = NO_METRICS,
        signer: Signer | None = None,
        connection_name: str | None = None,
    ) -> None:
        self._metrics = metrics
        self._signer = signer
        self._url = broker_url
        self._topology = topology
        self._history = history
        self._retries = retries
        self._on_retry = on_retry
        self._leading = leading
        self._burst = publishing_burst
        self._yield_began: float | None = None  # when this burst's pause began
        self._burst_ended: float | None = None  # when its last batch had gone, if it has
        self._feed_ready = feed_ready
        self._stopping = stopping
        self._clock = clock
        self._prefetch = prefetch
        self._name = connection_name
        self._consumer: Consumer | None = None
        self._publisher: Publisher | None = None
        self._batch: list[_Pending] = []
        self._batch_began = 0.0  # time.monotonic() of the batch's first event

    def run(self) -> None:
        """Thread body: never returns before ``stopping``, whatever the broker does."""
        while not self._stopping.is_set():
            if not self._leading.wait(_SLICE_S):
                continue
            # This process's own listeners should be bound before it passes outcomes on,
            # but history must not wait for them for long.
            if not self._feed_connected():
                if self._stopping.is_set():
                    return
                logger.warning("recording events before this scheduler's listeners connected")
            try:
                self._consume()
            except Stopped:
                return
            except ServiceUnavailable as exc:
                logger.warning("events consumer lost its connection: %s", exc)
                self._metrics.reconnected("events")
            except Exception:
                logger.exception("events consumer failed; starting it again")
                self._stopping.wait(_ERROR_PAUSE_S)

    def _feed_connected(self) -> bool:
        """Wait up to ``_FEED_WAIT_S`` for this process's listener feed (not past a stop)."""
        deadline = time.monotonic() + _FEED_WAIT_S
        while not self._stopping.is_set() and time.monotonic() < deadline:
            if self._feed_ready.wait(_SLICE_S):
                return True
        return self._feed_ready.is_set()

    def _consume(self) -> None:
        connection = retry_until_stopped("broker", logger, self._connect, self._stopping)
        try:
            connection.declare_topology(self._topology, ())
            self._publisher = connection.publisher()
            self._consumer = connection.consumer(
                [self._topology.events_queue], prefetch=self._prefetch, on_message=self._on_message
            )
            self._consumer.start()
            logger.info("consuming worker events from %s", self._topology.events_queue)
            while self._leading.is_set() and not self._stopping.is_set():
                if not self._batch and self._yielded():
                    continue
                waited = connection.drain_events(self._patience())
                if self._batch and (not waited or self._batch_closed()):
                    self._flush()
        finally:
            self._consumer = self._publisher = None
            self._batch = []
            connection.close()  # unacknowledged events go back to the queue

    def _patience(self) -> float:
        """How long to wait for the next event: a slice with none in hand, else until the
        queue counts as quiet or the batch reaches its age, whichever comes first."""
        if not self._batch:
            return _SLICE_S
        return max(0.0, min(_QUIET_S, _BATCH_AGE_S - self._batch_age()))

    def _batch_closed(self) -> bool:
        """The batch is full, or its first event has waited ``_BATCH_AGE_S``."""
        return len(self._batch) >= self._prefetch or self._batch_age() >= _BATCH_AGE_S

    def _batch_age(self) -> float:
        return time.monotonic() - self._batch_began

    def _connect(self) -> BrokerConnection:
        connection = BrokerConnection(self._url, name=self._name)
        connection.connect()
        return connection

    def _yielded(self) -> bool:
        """Wait a slice instead of consuming while the loop publishes a burst and settles.

        False once the burst and its settling time are over, or once this burst has been
        yielded to for ``_YIELD_MAX_S``: then events are consumed until the next burst.
        """
        if self._burst is None:
            return False
        now = time.monotonic()
        if self._burst.is_set():
            if self._yield_began is None:
                self._yield_began = now
            self._burst_ended = None  # (again) full batches: the burst goes on
        elif self._yield_began is None:
            return False
        elif self._burst_ended is None:
            self._burst_ended = now
        began, ended = self._yield_began, self._burst_ended
        settled = ended is not None and now - ended >= (ended - began) * _SETTLE_FACTOR
        if settled or now - began >= _YIELD_MAX_S:
            if ended is not None:  # over: the next full batch starts a new pause
                self._yield_began = self._burst_ended = None
            return False
        self._stopping.wait(_YIELD_SLICE_S)
        return True

    def _on_message(self, message: IncomingMessage) -> None:
        """Gate one delivery: a bad event is dead-lettered with its reason, never fatal."""
        try:
            event = open_event(message, self._signer)
        except ProtocolError as exc:
            self._dead_letter(message, exc.reason)
            return
        if not self._batch:
            self._batch_began = time.monotonic()
        self._batch.append(_Pending(event, message))

    def _flush(self) -> None:
        """Record the batch, pass its outcomes to the listeners, then acknowledge it."""
        assert self._consumer is not None
        assert self._publisher is not None
        batch, self._batch = self._batch, []
        try:
            self._record([pending.event for pending in batch])
        except (Stopped, ServiceUnavailable):
            raise
        except Exception:  # a bug or a row the database refuses: find it one by one
            logger.exception("cannot record a batch of %d events; recording each", len(batch))
            batch = [pending for pending in batch if self._record_alone(pending)]
        self._schedule_retries([pending.event for pending in batch])
        recorded = [(pending.event, pending.message.body) for pending in batch]
        outcomes = outcome_messages(self._topology, recorded)
        if outcomes:
            self._publisher.publish_many(outcomes)
        self._consumer.ack_many(pending.message.delivery_tag for pending in batch)

    def _record_alone(self, pending: _Pending) -> bool:
        """Record one event; park it in the dead-letter queue if the database refuses it."""
        try:
            self._record([pending.event])
        except (Stopped, ServiceUnavailable):
            raise
        except Exception as exc:
            logger.exception("cannot record event %s", pending.message.message_id)
            self._dead_letter(pending.message, f"cannot record: {type(exc).__name__}: {exc}")
            return False
        return True

    def _record(self, events: list[Event]) -> None:
        now = self._clock()
        retry_until_stopped(
            "database", logger, lambda: self._history.record_many(events, now), self._stopping
        )
        self._metrics.events_recorded(events)

    def _schedule_retries(self, events: list[Event]) -> None:
        """Keep the retries the batch's failures ask for, before it is acknowledged.

        Scheduling is idempotent (the attempt's run id), so a crash before the ack, which
        brings the events back, schedules nothing twice.
        """
        retries = self._retries
        if retries is None:
            return
        now = self._clock()
        planned = plan_retries(events, now)
        if planned:
            added = retry_until_stopped(
                "database", logger, lambda: retries.schedule(planned, now), self._stopping
            )
            logger.info("scheduled %d retr%s", added, "y" if added == 1 else "ies")
            if added and self._on_retry is not None:
                self._on_retry()  # the loop re-plans, so it wakes when the backoff ends

    def _dead_letter(self, message: IncomingMessage, reason: str) -> None:
        assert self._consumer is not None
        assert self._publisher is not None
        logger.warning(
            "dead-lettering message %s from %s: %s",
            message.message_id,
            self._topology.events_queue,
            reason,
        )
        dead_letter(
            self._publisher,
            self._topology,
            message,
            reason=reason,
            source_queue=self._topology.events_queue,
        )
        self._consumer.ack(message.delivery_tag)
