"""What RabbitMQ does and kombu's ``memory://`` transport doesn't, done by hand.

The embedded mode (``dueq up``) runs on the memory transport, and the adapter's contract
tests run on both, so the broker-side behaviours dueq relies on are emulated here:

- routing checks: a missing exchange, or a ``mandatory`` message no queue would
  receive, is reported (the memory transport drops such messages silently, or for the
  default exchange creates the queue);
- dead-lettering on ``reject(requeue=False)`` through the queue's dead-letter exchange
  (the memory transport ignores ``x-`` arguments, so the adapter remembers them);
- giving unacknowledged deliveries back when a consumer goes away (the memory transport
  drops them: its channels have ``do_restore = False``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dueq.shared.broker.convert import to_transport
from dueq.shared.broker.messages import IncomingMessage, OutgoingMessage

__all__ = ["check_route", "dead_letter_rejected", "queue_exists"]


def check_route(
    channel: Any, channel_errors: tuple[type[BaseException], ...], message: OutgoingMessage
) -> tuple[bool, str | None]:
    """Whether a queue would receive ``message``, and why RabbitMQ would refuse it (or None).

    RabbitMQ refuses a publish to a missing exchange, and an unroutable one that is
    ``mandatory``; an unroutable message that is not mandatory is silently dropped.
    """
    exchange, routing_key = message.exchange, message.routing_key
    if exchange:
        try:
            table = channel.get_table(exchange)
        except KeyError:
            return False, f"NOT_FOUND - no exchange {exchange!r}"
        routed = bool(channel.typeof(exchange).lookup(table, exchange, routing_key, None))
    else:
        routed = queue_exists(channel, channel_errors, routing_key)
    refusal = None if routed or not message.mandatory else "unroutable: NO_ROUTE"
    return routed, refusal


def queue_exists(channel: Any, channel_errors: tuple[type[BaseException], ...], queue: str) -> bool:
    """True if ``queue`` exists (the memory transport creates queues on mere mention)."""
    try:
        channel.queue_declare(queue=queue, passive=True)
    except channel_errors:
        return False
    return True


def dead_letter_rejected(
    channel: Any, message: IncomingMessage, *, queue: str, dead_letter_exchange: str
) -> None:
    """Publish a rejected delivery to ``dead_letter_exchange`` as RabbitMQ would.

    Adds the ``x-death`` and ``x-first-death-*`` headers RabbitMQ adds, so dead-letter
    consumers see the same shape on both transports.
    """
    outgoing = OutgoingMessage(
        body=message.body,
        exchange=dead_letter_exchange,
        routing_key=message.routing_key,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        reply_to=message.reply_to,
        type=message.type,
        headers=_death_headers(message.headers, message, queue),
        content_type=message.content_type or "application/octet-stream",
    )
    channel.basic_publish(
        to_transport(channel, outgoing),
        exchange=outgoing.exchange,
        routing_key=outgoing.routing_key,
    )


def _death_headers(
    headers: Mapping[str, Any], message: IncomingMessage, queue: str
) -> dict[str, Any]:
    death = {
        "count": 1,
        "reason": "rejected",
        "queue": queue,
        "time": datetime.now(UTC),
        "exchange": message.exchange,
        "routing-keys": [message.routing_key],
    }
    result = dict(headers)
    result["x-death"] = [death, *result.get("x-death", [])]
    result.setdefault("x-first-death-reason", "rejected")
    result.setdefault("x-first-death-queue", queue)
    result.setdefault("x-first-death-exchange", message.exchange)
    return result
