"""Translation between dueq's message values and kombu channel messages.

kombu channels (py-amqp's and the virtual ones behind ``memory://``) share two calls:
``prepare_message`` builds a transport message and ``message_to_python`` wraps a delivery
in a ``kombu.Message``.  Everything transport-specific about reading a delivery is here.
"""

from __future__ import annotations

from typing import Any

from dueq.shared.broker.messages import IncomingMessage, OutgoingMessage

__all__ = ["delivery_count", "from_delivery", "to_transport"]

# AMQP delivery modes: 2 = persistent (written to disk by durable queues), 1 = transient.
_PERSISTENT = 2
_TRANSIENT = 1
_DELIVERY_COUNT_HEADER = "x-delivery-count"


def to_transport(channel: Any, message: OutgoingMessage) -> Any:
    """Build the transport message ``channel.basic_publish`` sends for ``message``."""
    properties: dict[str, Any] = {
        "delivery_mode": _PERSISTENT if message.persistent else _TRANSIENT,
    }
    optional = {
        "message_id": message.message_id,
        "correlation_id": message.correlation_id,
        "reply_to": message.reply_to,
        "type": message.type,
    }
    properties.update({name: value for name, value in optional.items() if value is not None})
    if message.expiration_ms is not None:
        properties["expiration"] = str(message.expiration_ms)  # AMQP wants a string
    return channel.prepare_message(
        message.body,
        None,  # priority
        message.content_type,
        None,  # content_encoding: left unset so py-amqp never decodes bodies to str
        dict(message.headers),
        properties,
    )


def from_delivery(message: Any, delivery_tag: int) -> IncomingMessage:
    """Turn a ``kombu.Message`` into an ``IncomingMessage`` carrying ``delivery_tag``."""
    properties: dict[str, Any] = message.properties or {}
    info: dict[str, Any] = message.delivery_info or {}
    headers = dict(message.headers or {})
    return IncomingMessage(
        body=_body_bytes(message.body, message.content_encoding),
        delivery_tag=delivery_tag,
        redelivered=_redelivered(message, info),
        routing_key=info.get("routing_key") or "",
        exchange=info.get("exchange") or "",
        message_id=properties.get("message_id"),
        correlation_id=properties.get("correlation_id"),
        reply_to=properties.get("reply_to"),
        type=properties.get("type"),
        content_type=message.content_type,
        headers=headers,
        delivery_count=delivery_count(headers),
    )


def delivery_count(headers: dict[str, Any]) -> int | None:
    """The quorum queue's ``x-delivery-count`` header, or None when absent or odd."""
    value = headers.get(_DELIVERY_COUNT_HEADER)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _body_bytes(body: Any, content_encoding: str | None) -> bytes:
    # py-amqp decodes a body to str when the publisher set content_encoding (pika and
    # other clients do); give consumers the bytes that were sent either way.
    if isinstance(body, str):
        return body.encode(content_encoding or "utf-8")
    if body is None:
        return b""
    return bytes(body)


def _redelivered(message: Any, info: dict[str, Any]) -> bool:
    if info.get("redelivered"):
        return True
    # kombu's virtual transports (memory://) flag a requeued message on the raw payload
    # only, not in delivery_info.
    raw = getattr(message, "_raw", None)
    return bool(isinstance(raw, dict) and raw.get("redelivered"))
