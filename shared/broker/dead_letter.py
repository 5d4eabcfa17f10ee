"""Dead-lettering a delivery with the reason attached.

RabbitMQ's own dead-lettering (``reject(requeue=False)``) records only *that* a message
was rejected.  dueq wants the dead queue to say *why* (a bad payload, an unknown
function), so the worker republishes the original message to the dead-letter exchange
with reason headers, waits for the confirm, and only then acks the original.
"""

from __future__ import annotations

from datetime import UTC, datetime

from dueq.shared.broker.messages import IncomingMessage, OutgoingMessage
from dueq.shared.broker.publisher import Publisher
from dueq.shared.protocol.types import format_utc
from dueq.shared.topology import Topology

__all__ = [
    "DEAD_AT_HEADER",
    "MAX_REASON_CHARS",
    "REASON_HEADER",
    "SOURCE_QUEUE_HEADER",
    "dead_letter",
]

REASON_HEADER = "x-dueq-reason"
SOURCE_QUEUE_HEADER = "x-dueq-source-queue"
DEAD_AT_HEADER = "x-dueq-dead-at"
# Enough for an exception type and message; a header is no place for a traceback.
MAX_REASON_CHARS = 1000
# Set by quorum queues per delivery: a copy of the old count would be read as the new one.
_DROPPED_HEADERS = ("x-delivery-count",)


def dead_letter(
    publisher: Publisher,
    topology: Topology,
    message: IncomingMessage,
    *,
    reason: str,
    source_queue: str,
) -> None:
    """Publish ``message`` (body and properties unchanged) to the dead-letter exchange.

    Adds ``x-dueq-reason`` (one line, at most 1000 characters), ``x-dueq-source-queue``
    and ``x-dueq-dead-at`` (ISO 8601, UTC).  Returns once the broker confirmed it; the
    caller then acks the original delivery.  Raises like ``Publisher.publish``.
    """
    headers = {k: v for k, v in message.headers.items() if k not in _DROPPED_HEADERS}
    headers[REASON_HEADER] = one_line(reason)
    headers[SOURCE_QUEUE_HEADER] = source_queue
    headers[DEAD_AT_HEADER] = format_utc(datetime.now(UTC))
    publisher.publish(
        OutgoingMessage(
            body=message.body,
            exchange=topology.dead_letter_exchange,
            routing_key=message.routing_key,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            reply_to=message.reply_to,
            type=message.type,
            headers=headers,
            content_type=message.content_type or "application/octet-stream",
            persistent=True,
        )
    )


def one_line(reason: str) -> str:
    """``reason`` with every run of whitespace made one space, cut to MAX_REASON_CHARS."""
    return " ".join(reason.split())[:MAX_REASON_CHARS]
