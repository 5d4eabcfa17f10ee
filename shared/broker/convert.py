"""Translation between dueq's message values and kombu channel messages.

kombu channels (py-amqp's and the virtual ones behind ``memory://``) share two calls:
``prepare_message`` builds a transport message and ``message_to_python`` wraps a delivery
in a ``kombu.Message``.  Everything transport-specific about reading a delivery is here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dueq.shared.broker.messages import IncomingMessage, OutgoingMessage
from dueq.shared.utf8 import encodable

__all__ = ["delivery_count", "from_delivery", "read_delivery", "to_transport"]

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


def read_delivery(channel: Any, raw: Any, delivery_tag: int) -> tuple[Any, IncomingMessage]:
    """The transport's delivery tag and the ``IncomingMessage`` of a raw delivery.

    Reads the bytes that were sent, untouched: kombu's ``message_to_python`` would inflate
    a body whose ``compression`` header asks for it (a 51 kB zlib bomb becomes 52 MB
    before any size check) and re-encode or decode it by ``content_encoding`` (``idna``
    raised ``UnicodeError`` in the broker thread).  Whether such a message is acceptable
    is decided later, by the receiver, from ``content_encoding`` and the headers.
    """
    payload = getattr(raw, "_raw", None)
    if isinstance(payload, dict):
        # kombu's virtual transports (memory://) wrap the payload dict themselves; read the
        # payload, not the wrapper (which already applied any compression header).
        properties = dict(payload.get("properties") or {})
        encoded = payload.get("body")
        body = channel.decode_body(encoded, properties.get("body_encoding")) if encoded else b""
        view = _View(
            body=body,
            content_type=payload.get("content-type"),
            content_encoding=payload.get("content-encoding"),
            headers=payload.get("headers"),
            properties=properties,
            delivery_info=properties.get("delivery_info") or {},
            redelivered=bool(payload.get("redelivered")),
        )
        return raw.delivery_tag, from_delivery(view, delivery_tag)
    properties = dict(raw.properties or {})
    view = _View(
        body=raw.body,
        content_type=properties.get("content_type"),
        content_encoding=properties.get("content_encoding"),
        headers=properties.get("application_headers"),
        properties=properties,
        delivery_info=raw.delivery_info or {},
        redelivered=False,
    )
    return raw.delivery_tag, from_delivery(view, delivery_tag)


@dataclass(frozen=True)
class _View:
    """The parts of a delivery ``from_delivery`` reads, whatever the transport."""

    body: Any
    content_type: Any
    content_encoding: Any
    headers: Any
    properties: dict[str, Any]
    delivery_info: dict[str, Any]
    redelivered: bool


def from_delivery(message: Any, delivery_tag: int) -> IncomingMessage:
    """Turn a delivery (``_View`` or ``kombu.Message``) into an ``IncomingMessage``.

    Property values are kept only when they are text, so nothing downstream meets an
    unexpected type in a field typed ``str``.
    """
    properties: dict[str, Any] = message.properties or {}
    info: dict[str, Any] = message.delivery_info or {}
    raw_headers = message.headers
    headers = dict(raw_headers) if isinstance(raw_headers, dict) else {}
    return IncomingMessage(
        body=_body_bytes(message.body),
        delivery_tag=delivery_tag,
        redelivered=bool(info.get("redelivered") or getattr(message, "redelivered", False)),
        routing_key=_text(info.get("routing_key")) or "",
        exchange=_text(info.get("exchange")) or "",
        message_id=_text(properties.get("message_id")),
        correlation_id=_text(properties.get("correlation_id")),
        reply_to=_text(properties.get("reply_to")),
        type=_text(properties.get("type")),
        content_type=_text(message.content_type),
        content_encoding=_text(message.content_encoding),
        headers=headers,
        delivery_count=delivery_count(headers),
    )


def delivery_count(headers: dict[str, Any]) -> int | None:
    """The quorum queue's ``x-delivery-count`` header, or None when absent or odd."""
    value = headers.get(_DELIVERY_COUNT_HEADER)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def _body_bytes(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        # Only if a transport decoded it despite auto_decode being off: give back UTF-8,
        # lone surrogates included, so the receiver's JSON check refuses it, never us.
        return body.encode("utf-8", "surrogatepass")
    if body is None:
        return b""
    return bytes(body)


def _text(value: Any) -> str | None:
    # py-amqp decodes short strings with ``surrogatepass``: a property may hold a lone
    # surrogate, which no event carrying it could serialize (``shared.utf8``).
    return encodable(value) if isinstance(value, str) else None
