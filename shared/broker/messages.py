"""The two message shapes dueq code sees instead of kombu's or py-amqp's.

Plain frozen values: producers build an ``OutgoingMessage``, consumers receive an
``IncomingMessage``.  Only ``shared.broker.convert`` knows how they map to a transport.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["UNDECODABLE_HEADER", "IncomingMessage", "OutgoingMessage"]

# Set (with what failed) on a delivery whose AMQP properties could not be decoded; its
# other properties are lost (``broker.undecodable``), and ``inbound`` refuses it.
UNDECODABLE_HEADER = "x-dueq-undecodable-properties"

# AMQP shortstr limit: exchange names and routing keys longer than this cannot be sent.
_MAX_SHORTSTR = 255


@dataclass(frozen=True, kw_only=True)
class OutgoingMessage:
    """A message to publish: body, destination and AMQP properties.

    ``exchange=""`` is the default exchange, where ``routing_key`` names the queue.
    ``persistent`` maps to delivery mode 2 (written to disk by durable queues).
    ``mandatory`` makes a message no queue receives an error (``PublishError``); turn it
    off for best-effort broadcasts such as control wakeups nobody may be listening to.
    """

    body: bytes
    exchange: str
    routing_key: str
    message_id: str | None = None
    correlation_id: str | None = None
    reply_to: str | None = None
    type: str | None = None
    headers: Mapping[str, Any] = field(default_factory=dict)
    content_type: str = "application/json"
    persistent: bool = True
    expiration_ms: int | None = None
    mandatory: bool = True

    def __post_init__(self) -> None:
        # Fail here, at the caller's line, rather than deep inside a frame encoder.
        if not isinstance(self.body, bytes):
            raise TypeError(f"message body must be bytes, not {type(self.body).__name__}")
        if len(self.exchange) > _MAX_SHORTSTR or len(self.routing_key) > _MAX_SHORTSTR:
            raise ValueError(f"exchange and routing key are limited to {_MAX_SHORTSTR} chars")
        if self.expiration_ms is not None and self.expiration_ms < 0:
            raise ValueError(f"expiration_ms must be >= 0, not {self.expiration_ms}")


@dataclass(frozen=True, kw_only=True)
class IncomingMessage:
    """A delivery handed to a consumer's ``on_message``.

    ``delivery_tag`` is only meaningful to the ``Consumer`` that delivered it (pass it back
    to its ``ack``/``reject``).  ``redelivered`` is RabbitMQ's hint that the message may
    have been seen before; ``delivery_count`` is the quorum queue's ``x-delivery-count``
    (None on classic queues and on the first delivery).  ``body`` is the bytes as sent:
    no transport decoding or decompression happened (``content_encoding`` says what the
    sender claimed).
    """

    body: bytes
    delivery_tag: int
    redelivered: bool
    routing_key: str
    exchange: str
    message_id: str | None
    correlation_id: str | None
    reply_to: str | None
    type: str | None
    content_type: str | None
    headers: Mapping[str, Any]
    delivery_count: int | None
    content_encoding: str | None = None
