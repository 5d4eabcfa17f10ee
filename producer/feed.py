"""Job outcomes for the listeners of every running scheduler, not only the leader's.

APScheduler code adds its listeners in each process that runs a scheduler, and expects
them to hear the jobs' outcomes.  Workers report to one durable events queue, which only
the leader consumes (so run history is written once).  After recording a batch, the
leader republishes its outcomes on the ``listeners`` fanout exchange (``outcome_messages``);
every started scheduler -- the leader included -- consumes them through an exclusive,
auto-delete queue of its own (``ListenerFeed``) and hands them to its listeners.

A scheduler binds its queue only while one of its listeners takes outcomes
(``ListenerDispatcher.wants``): a ``dueq scheduler`` process has none, and at 1,000 runs a
second a bound queue cost RabbitMQ a delivery and an ack per outcome and the scheduler a
thread that woke for each.  Without one the feed counts as listening (every outcome
published reaches all of this process's outcome listeners: there are none); adding one
clears ``ready`` at once, in the adding thread, and sets it again once the queue is bound.

Delivery is at least once from the events queue (a leader that dies between publishing
and acknowledging lets the next leader publish the batch again), so the feed drops an
outcome it has already handed over (same event, same run id).  A scheduler hears what
was published while its feed was connected: history, not listeners, is the record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable

from dueq.producer.listeners import ListenerDispatcher
from dueq.producer.outcomes import OUTCOME_CODES, listener_event
from dueq.producer.retries import Stopped, retry_until_stopped
from dueq.shared.broker import BrokerConnection, Consumer, IncomingMessage, OutgoingMessage
from dueq.shared.errors import ServiceUnavailable
from dueq.shared.protocol import Event, decode_event
from dueq.shared.topology import Topology

__all__ = ["OUTCOME_MESSAGE_TYPE", "ListenerFeed", "outcome_messages"]

logger = logging.getLogger(__name__)

OUTCOME_MESSAGE_TYPE = "dueq.outcome"
# Longest wait between checks of the stop flag.
_SLICE_S = 0.2
# At stop, outcomes still arriving are taken until the queue is quiet this long (the memory
# transport polls every 10 ms), or for at most _FINAL_DRAIN_S while others keep publishing.
_QUIET_S = 0.05
_FINAL_DRAIN_S = 1.0
# Pause after an unexpected error before consuming again.
_ERROR_PAUSE_S = 1.0
# Outcomes in flight to this scheduler at once.
_PREFETCH = 500
# Outcomes remembered to drop a republished one: far more than one batch can hold.
_REMEMBERED = 20_000


def outcome_messages(
    topology: Topology, recorded: Iterable[tuple[Event, bytes]]
) -> list[OutgoingMessage]:
    """The listeners-exchange copies of recorded events that listeners hear (outcomes).

    The body is the worker's event as it came (already validated), so every scheduler
    decodes it exactly as the leader did.
    """
    return [
        OutgoingMessage(
            body=body,
            exchange=topology.listeners_exchange,
            routing_key="",
            type=OUTCOME_MESSAGE_TYPE,
            persistent=False,
            mandatory=False,  # a moment with no scheduler listening loses nothing recorded
        )
        for event, body in recorded
        if listener_event(event) is not None
    ]


class ListenerFeed:
    """Consumes this scheduler's private listeners queue until ``stopping`` is set."""

    def __init__(
        self,
        *,
        broker_url: str,
        topology: Topology,
        dispatcher: ListenerDispatcher,
        stopping: threading.Event,
        connection_name: str | None = None,
    ) -> None:
        self._url = broker_url
        self._topology = topology
        self._dispatcher = dispatcher
        self._stopping = stopping
        self._name = connection_name
        self._consumer: Consumer | None = None
        self._unacked: list[int] = []
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.ready = threading.Event()
        """Set while outcomes published now reach this process's outcome listeners: its
        private queue is bound, or it has no outcome listener."""
        self._lock = threading.Lock()  # orders ``ready`` between this thread and watchers
        self._listeners_changed = threading.Event()
        dispatcher.watch(self._on_listeners_changed)

    def run(self) -> None:
        """Thread body: never returns before ``stopping``, whatever the broker does."""
        while not self._stopping.is_set():
            if not self._wanted():
                self._idle()
                continue
            try:
                self._consume()
            except Stopped:
                return
            except ServiceUnavailable as exc:
                logger.warning("listener feed lost its connection: %s", exc)
            except Exception:
                logger.exception("listener feed failed; starting it again")
                self._stopping.wait(_ERROR_PAUSE_S)

    def _wanted(self) -> bool:
        return self._dispatcher.wants(OUTCOME_CODES)

    def _on_listeners_changed(self) -> None:
        """A listener came or went (in the caller's thread): not listening until bound."""
        with self._lock:
            if self._wanted() and self._consumer is None:
                self.ready.clear()
        self._listeners_changed.set()

    def _idle(self) -> None:
        """No outcome listener here: nothing to bind; wait for one (or the stop)."""
        with self._lock:
            if self._wanted():
                return
            self.ready.set()
        self._listeners_changed.wait(_SLICE_S)
        self._listeners_changed.clear()

    def _consume(self) -> None:
        connection = retry_until_stopped("broker", logger, self._connect, self._stopping)
        try:
            queue = connection.declare_listener_queue(self._topology)
            consumer = connection.consumer([queue], prefetch=_PREFETCH, on_message=self._on_message)
            consumer.start()
            with self._lock:
                self._consumer = consumer
                self.ready.set()
            while not self._stopping.is_set() and self._wanted():
                connection.drain_events(_SLICE_S)
                self._ack()
            if self._stopping.is_set():
                self._drain_last(connection)
        finally:
            with self._lock:
                self.ready.clear()
                self._consumer = None
            self._unacked = []
            connection.close()

    def _drain_last(self, connection: BrokerConnection) -> None:
        """At stop, take what is already queued for this scheduler (up to a bound)."""
        deadline = time.monotonic() + _FINAL_DRAIN_S
        while time.monotonic() < deadline and connection.drain_events(_QUIET_S):
            pass
        self._ack()

    def _connect(self) -> BrokerConnection:
        connection = BrokerConnection(self._url, name=self._name)
        connection.connect()
        return connection

    def _ack(self) -> None:
        """Acknowledge what the last drain delivered, at once (one frame per batch)."""
        if self._unacked and self._consumer is not None:
            tags, self._unacked = self._unacked, []
            self._consumer.ack_many(tags)

    def _on_message(self, message: IncomingMessage) -> None:
        self._unacked.append(message.delivery_tag)
        if not self._dispatcher.wants(OUTCOME_CODES):
            return  # no listener for outcomes here: not even worth decoding (1,000/s at scale)
        try:
            outcome = listener_event(decode_event(message.body))
        except Exception as exc:  # anyone who may publish here could send anything
            # Only the leader should publish here; whatever arrives, log it and go on.
            logger.warning("ignoring a malformed outcome on the listeners exchange: %s", exc)
            return
        if outcome is None or self._repeated(f"{outcome.code}", outcome.run_id):
            return
        self._dispatcher.dispatch(outcome)

    def _repeated(self, code: str, run_id: str) -> bool:
        key = (code, run_id)
        if key in self._seen:
            return True
        self._seen[key] = None
        if len(self._seen) > _REMEMBERED:
            self._seen.popitem(last=False)
        return False
