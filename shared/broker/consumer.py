"""Consuming queues with manual acknowledgements and a prefetch limit.

Deliveries are read by whoever reads frames (``drain_events`` or a publisher waiting for
confirms) and queued on the link; ``on_message`` runs only from
``BrokerConnection.drain_events``, one delivery at a time, in the connection's thread.
"""

from __future__ import annotations

import functools
import itertools
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dueq.shared.broker.convert import read_delivery
from dueq.shared.broker.errors import DeliveryTagError, TopologyError
from dueq.shared.broker.link import Link, describe, is_caused_by
from dueq.shared.broker.memory import dead_letter_rejected
from dueq.shared.broker.messages import IncomingMessage
from dueq.shared.errors import ConfigError

__all__ = ["Consumer"]

# AMQP's prefetch_count is an unsigned short.
_MAX_PREFETCH = 65535
# (class, method) ids of the calls ``start`` makes that a missing queue makes fail.
_START_METHODS = [(50, 10), (60, 10), (60, 20)]


@dataclass(frozen=True)
class _Delivery:
    transport_tag: Any  # an int on RabbitMQ, a uuid string on memory://
    queue: str
    message: IncomingMessage


class Consumer:
    """A manual-ack subscription to some queues, on a channel of its own.

    Made by ``BrokerConnection.consumer()``; nothing is received before ``start()``.  It
    belongs to one connection: once that is lost or closed, ``ack``/``reject`` raise
    ``BrokerUnavailable`` (the broker gives the unacknowledged deliveries to another
    consumer) and a new consumer must be made after ``connect()``.  After ``close()``
    they raise ``DeliveryTagError``.

    ``prefetch`` follows RabbitMQ's per-consumer meaning: it caps the unacknowledged
    deliveries of *each queue* consumed.  (On ``memory://`` it caps the whole consumer.)
    """

    def __init__(
        self,
        link: Link,
        queues: Sequence[str],
        *,
        prefetch: int,
        on_message: Callable[[IncomingMessage], None],
        dead_letter_exchanges: Mapping[str, str],
    ) -> None:
        if not 0 <= prefetch <= _MAX_PREFETCH:
            raise ConfigError(f"prefetch must be between 0 and {_MAX_PREFETCH}, not {prefetch}")
        if not queues:
            raise ConfigError("a consumer needs at least one queue")
        self._link = link
        self._queues = tuple(queues)
        self._prefetch = prefetch
        self._on_message = on_message
        self._dead_letter_exchanges = dead_letter_exchanges  # live: later declarations count
        self._channel: Any = None
        self._consumer_tags: list[str] = []
        self._tags = itertools.count(1)
        self._unacked: dict[int, _Delivery] = {}
        self._undispatched: set[int] = set()
        self._cancelled = False
        self._closed = False

    @property
    def unacked(self) -> int:
        """Deliveries received and not yet acked or rejected."""
        return len(self._unacked)

    def start(self) -> None:
        """Set the prefetch limit and subscribe to every queue (manual acks)."""
        if self._channel is not None or self._closed:
            raise RuntimeError("a consumer can be started only once")
        link = self._link
        channel = link.channel()
        with link.guard("start consumer"):
            try:
                self._subscribe(channel)
            except link.channel_errors as exc:
                if not is_caused_by(exc, _START_METHODS):
                    raise
                channel.close()
                raise TopologyError(f"start consumer: {describe(exc)}") from exc
        self._channel = channel
        if not link.is_amqp:
            link.before_close(self._give_back)

    def ack(self, delivery_tag: int) -> None:
        """Acknowledge a delivery: the broker forgets the message."""
        delivery = self._take(delivery_tag, "ack")
        with self._link.guard("ack"):
            self._channel.basic_ack(delivery.transport_tag)

    def ack_many(self, delivery_tags: Iterable[int]) -> None:
        """Acknowledge several deliveries in as few frames as the broker allows.

        The deliveries are taken first; then, on RabbitMQ, every one older than the oldest
        delivery still unacknowledged goes in a single ``basic.ack`` with ``multiple`` set
        (which acks *every* outstanding delivery up to its tag, so it may only cover these),
        and the rest one frame each.  Raises ``DeliveryTagError`` after acking the valid
        ones if some tags were not unacknowledged on this consumer.
        """
        taken, errors = [], []
        for tag in delivery_tags:
            try:
                taken.append(self._take(tag, "ack").transport_tag)
            except DeliveryTagError as exc:
                errors.append(str(exc))
        with self._link.guard("ack"):
            for transport_tag, multiple in self._ack_frames(taken):
                self._channel.basic_ack(transport_tag, multiple=multiple)
        if errors:
            raise DeliveryTagError("; ".join(errors))

    def _ack_frames(self, transport_tags: list[Any]) -> list[tuple[Any, bool]]:
        """(tag, multiple) pairs acking exactly ``transport_tags`` (already taken)."""
        if not self._link.is_amqp or len(transport_tags) < 2:
            return [(tag, False) for tag in transport_tags]  # memory:// tags are not ordered
        oldest_left = min((d.transport_tag for d in self._unacked.values()), default=float("inf"))
        older = [tag for tag in transport_tags if tag < oldest_left]
        newer = [(tag, False) for tag in transport_tags if tag >= oldest_left]
        return [(max(older), True), *newer] if older else newer

    def reject(self, delivery_tag: int, *, requeue: bool) -> None:
        """Give a delivery back (``requeue=True``) or dead-letter it through the queue's DLX."""
        delivery = self._take(delivery_tag, "reject")
        with self._link.guard("reject"):
            if not requeue and not self._link.is_amqp:
                self._dead_letter_in_memory(delivery)
            self._channel.basic_reject(delivery.transport_tag, requeue=requeue)

    def cancel(self) -> None:
        """Stop new deliveries.  Ones already handed to ``on_message`` stay unacked.

        Deliveries received but not yet handed over go straight back to the queue, and
        ``on_message`` is not called again.
        """
        if self._cancelled or self._channel is None:
            self._cancelled = True
            return
        self._cancelled = True
        with self._link.guard("cancel consumer"):
            for consumer_tag in self._consumer_tags:
                self._channel.basic_cancel(consumer_tag)
            for tag in sorted(self._undispatched):
                self._requeue(tag)

    def close(self) -> None:
        """Cancel and close the channel; unacknowledged deliveries return to the queue."""
        if self._closed:
            return
        if self._channel is not None and self._link.alive:
            self.cancel()
            self._give_back()
            with self._link.guard("close consumer"):
                self._channel.close()
        self._closed = True
        self._unacked.clear()
        self._undispatched.clear()

    def _subscribe(self, channel: Any) -> None:
        # py-amqp would decode bodies to str by their content_encoding (any codec Python
        # knows, idna and rot13 included); dueq reads the bytes as sent.
        channel.auto_decode = False
        channel.basic_qos(0, self._prefetch, False)
        for queue in self._queues:
            if not self._link.is_amqp:
                # RabbitMQ refuses to consume a missing queue; memory:// would wait forever.
                channel.queue_declare(queue=queue, passive=True)
            consumer_tag = f"dueq-{uuid.uuid4().hex}"
            channel.basic_consume(
                queue=queue,
                no_ack=False,
                callback=functools.partial(self._on_delivery, channel, queue),
                consumer_tag=consumer_tag,
                on_cancel=functools.partial(self._on_broker_cancel, queue),
            )
            self._consumer_tags.append(consumer_tag)

    def _on_delivery(self, channel: Any, queue: str, raw: Any) -> None:
        """Transport callback, run while frames are read: record and queue the delivery."""
        tag = next(self._tags)
        transport_tag, incoming = read_delivery(channel, raw, tag)
        self._unacked[tag] = _Delivery(transport_tag, queue, incoming)
        self._undispatched.add(tag)
        if self._cancelled:
            # Sent by the broker before it processed our basic.cancel.
            self._requeue_on(channel, tag)
            return
        self._link.call_soon(functools.partial(self._dispatch, tag))

    def _on_broker_cancel(self, queue: str, consumer_tag: str) -> None:
        """Transport callback: the broker ended the subscription (the queue was deleted).

        Reported from the owner's next ``drain_events`` as ``BrokerUnavailable``, so the
        usual recovery (reconnect, declare, consume again) brings the queue back, rather
        than this consumer going quietly deaf.
        """
        if self._cancelled:
            return
        reason = f"the broker cancelled the consumer of queue {queue!r} (deleted?)"
        self._link.call_soon(functools.partial(self._raise_lost, reason))

    def _raise_lost(self, reason: str) -> None:
        if not self._closed and self._link.alive:
            raise self._link.give_up("consume", reason)

    def _dispatch(self, tag: int) -> None:
        """Hand one delivery to ``on_message`` (run from ``drain_events``)."""
        if tag not in self._undispatched or not self._link.alive:
            return  # given back by cancel(), or the connection died: it will come again
        self._undispatched.discard(tag)
        self._on_message(self._unacked[tag].message)

    def _take(self, delivery_tag: int, action: str) -> _Delivery:
        self._link.check_alive(action)
        if self._closed:
            raise DeliveryTagError(
                f"{action}: the consumer is closed; its unacknowledged deliveries went back "
                "to the queue"
            )
        try:
            delivery = self._unacked.pop(delivery_tag)
        except KeyError:
            raise DeliveryTagError(
                f"{action}: delivery tag {delivery_tag} is not unacknowledged on this consumer "
                "(already acked or rejected, or from another consumer)"
            ) from None
        self._undispatched.discard(delivery_tag)
        return delivery

    def _requeue(self, tag: int) -> None:
        self._requeue_on(self._channel, tag)

    def _requeue_on(self, channel: Any, tag: int) -> None:
        delivery = self._unacked.pop(tag)
        self._undispatched.discard(tag)
        channel.basic_reject(delivery.transport_tag, requeue=True)

    def _give_back(self) -> None:
        """memory:// drops unacked deliveries when a channel closes; requeue them first."""
        if self._link.is_amqp or self._channel is None or self._closed:
            return
        for tag in sorted(self._unacked):
            self._requeue(tag)

    def _dead_letter_in_memory(self, delivery: _Delivery) -> None:
        exchange = self._dead_letter_exchanges.get(delivery.queue)
        if exchange is not None:
            dead_letter_rejected(
                self._channel,
                delivery.message,
                queue=delivery.queue,
                dead_letter_exchange=exchange,
            )
