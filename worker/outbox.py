"""What slot and lease threads hand to the broker thread: messages to publish, deliveries
to settle.

A ``BrokerConnection`` belongs to one thread.  Every other thread of the worker puts an
``Outbound`` here instead of touching the broker; the broker thread takes them in
batches, publishes all their messages with one round of confirms, and only then acks,
requeues or dead-letters the deliveries they carry.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from dueq.shared.broker import IncomingMessage, OutgoingMessage
from dueq.shared.broker.waker import Waker

__all__ = ["Outbound", "Outbox", "Settle"]


class Settle(Enum):
    """What to do with an ``Outbound``'s delivery once its messages are confirmed."""

    NOTHING = "nothing"
    ACK = "ack"
    REQUEUE = "requeue"
    DEAD_LETTER = "dead_letter"  # republish to the DLX with ``reason``, then ack


@dataclass(frozen=True, slots=True)
class Outbound:
    """Messages to publish, then what to do with a delivery; ``done`` is set afterwards.

    ``generation`` names the consumer that delivered ``delivery``: after a reconnect its
    tag means nothing (the broker has already given the message to someone again).
    ``then`` is called by the broker thread once the messages are confirmed (never if
    they are not), so it must be quick: hand the work on, don't do it.  An item with
    ``start_of`` carries only that run's ``job_started``, as ``build`` to call for its
    messages once it is to be sent (most are folded and never built); ``outcome_of`` names
    the run whose outcome an item carries (see ``folding``).
    """

    messages: Sequence[OutgoingMessage] = ()
    delivery: IncomingMessage | None = None
    generation: int = 0
    settle: Settle = Settle.NOTHING
    reason: str = ""
    done: threading.Event | None = field(default=None, compare=False)
    then: Callable[[], None] | None = field(default=None, compare=False)
    start_of: str | None = None
    outcome_of: str | None = None
    build: Callable[[], Sequence[OutgoingMessage]] | None = field(default=None, compare=False)


class Outbox:
    """A thread-safe FIFO of ``Outbound`` items, taken in batches by the broker thread.

    Every put wakes the broker thread if it sleeps on the socket (``waker``).
    """

    def __init__(self) -> None:
        self._items: queue.SimpleQueue[Outbound] = queue.SimpleQueue()
        self.waker = Waker()

    def put(self, item: Outbound) -> None:
        """Hand ``item`` to the broker thread (any thread)."""
        self._items.put(item)
        self.waker.wake()

    def send(self, messages: Sequence[OutgoingMessage]) -> threading.Event:
        """Publish ``messages``; the returned event is set once they are confirmed."""
        done = threading.Event()
        self.put(Outbound(messages, done=done))
        return done

    def empty(self) -> bool:
        """True if nothing is waiting."""
        return self._items.empty()

    def take(self, timeout: float = 0.0) -> list[Outbound]:
        """Everything waiting, waiting up to ``timeout`` seconds for the first item."""
        items: list[Outbound] = []
        try:
            items.append(self._items.get(timeout=timeout) if timeout else self._items.get_nowait())
            while True:
                items.append(self._items.get_nowait())
        except queue.Empty:
            return items
