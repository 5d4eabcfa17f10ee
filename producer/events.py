"""The events consumer: worker reports -> run history -> listeners.

Runs in its own thread with its own ``BrokerConnection``, and only while this process is
the leader, so in the usual one-active-scheduler deployment listeners hear every event.
Each message is decoded (a bad one is logged and dead-lettered, never fatal), written to
the history (retried while the database is down: the events wait in the queue), handed to
the listeners, and only then acknowledged.
"""

from __future__ import annotations

import logging
import threading

from producer.clock import Clock
from producer.history.base import RunHistory
from producer.listeners import ListenerDispatcher
from producer.outcomes import listener_event
from producer.retries import Stopped, retry_until_stopped
from shared.broker import BrokerConnection, Consumer, IncomingMessage, Publisher, dead_letter
from shared.errors import ProtocolError, ServiceUnavailable
from shared.protocol import Event, decode_event
from shared.topology import Topology

__all__ = ["EventsConsumer"]

logger = logging.getLogger(__name__)

# Longest wait between checks of the stop and leadership flags.
_SLICE_S = 0.2
# Pause after an unexpected error before consuming again.
_ERROR_PAUSE_S = 1.0


class EventsConsumer:
    """Consumes the events queue while ``leading`` is set, until ``stopping`` is set."""

    def __init__(
        self,
        *,
        broker_url: str,
        topology: Topology,
        history: RunHistory,
        dispatcher: ListenerDispatcher,
        leading: threading.Event,
        stopping: threading.Event,
        clock: Clock,
        prefetch: int,
        connection_name: str | None = None,
    ) -> None:
        self._url = broker_url
        self._topology = topology
        self._history = history
        self._dispatcher = dispatcher
        self._leading = leading
        self._stopping = stopping
        self._clock = clock
        self._prefetch = prefetch
        self._name = connection_name
        self._consumer: Consumer | None = None
        self._publisher: Publisher | None = None

    def run(self) -> None:
        """Thread body: never returns before ``stopping``, whatever the broker does."""
        while not self._stopping.is_set():
            if not self._leading.wait(_SLICE_S):
                continue
            try:
                self._consume()
            except Stopped:
                return
            except ServiceUnavailable as exc:
                logger.warning("events consumer lost its connection: %s", exc)
            except Exception:
                logger.exception("events consumer failed; starting it again")
                self._stopping.wait(_ERROR_PAUSE_S)

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
                connection.drain_events(_SLICE_S)
        finally:
            self._consumer = self._publisher = None
            connection.close()  # unacknowledged events go back to the queue

    def _connect(self) -> BrokerConnection:
        connection = BrokerConnection(self._url, name=self._name)
        connection.connect()
        return connection

    def _on_message(self, message: IncomingMessage) -> None:
        assert self._consumer is not None
        assert self._publisher is not None
        try:
            event = decode_event(message.body)
        except ProtocolError as exc:
            self._dead_letter(message, exc.reason)
            return
        try:
            self._record(event)
        except (Stopped, ServiceUnavailable):
            raise
        except Exception as exc:  # a bug or a row the database refuses: park the message
            logger.exception("cannot record event %s", message.message_id)
            self._dead_letter(message, f"cannot record: {type(exc).__name__}: {exc}")
            return
        outcome = listener_event(event)
        if outcome is not None:
            self._dispatcher.dispatch(outcome)
        self._consumer.ack(message.delivery_tag)

    def _record(self, event: Event) -> None:
        now = self._clock()
        retry_until_stopped(
            "database", logger, lambda: self._history.record(event, now), self._stopping
        )

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
