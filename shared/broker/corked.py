"""Sending the frames of many publishes with one socket write ("corking").

py-amqp writes each message (method, header and body frames) with its own ``sendall``:
for small messages that system call is about half the cost of a pipelined publish.  Here
the frames go into a buffer instead, and the buffer goes out in one write once it holds
enough, and always before the publisher reads from the socket, so the broker never waits
for a message it should already have.

The frames are encoded here too, byte for byte as py-amqp encodes them (a unit test
compares the two): going through kombu's ``prepare_message``, py-amqp's ``Message`` and
its generic property serializer was a third of a burst's CPU.  The ``basic.publish``
method frame is the same for every message to one destination and is encoded once; the
content header is the few properties dueq sets, each a flag bit and a short string.
"""

from __future__ import annotations

import struct
from typing import Any

from amqp.serialization import dumps

from dueq.shared.broker.messages import OutgoingMessage

__all__ = ["CorkedWriter", "encode_properties"]

# Send once this many bytes are gathered: large enough to make the per-write cost vanish
# (a few hundred small messages), small enough to keep the broker busy meanwhile.
_FLUSH_BYTES = 64 * 1024
# Method frames kept per destination (exchange, routing key, mandatory, channel).
_MAX_CACHED_METHODS = 1024
# basic.publish: its (class, method) ids and its arguments' types: reserved short,
# exchange, routing key, mandatory, immediate.
_BASIC_CLASS = 60
_BASIC_PUBLISH_METHOD = 40
_BASIC_PUBLISH_ARGSIG = "Bssbb"
# Frame types, and the octet that ends every frame (AMQP 0-9-1, section 4.2.3).
_METHOD, _HEADER, _BODY = 1, 2, 3
_FRAME_END = b"\xce"
_FRAME = struct.Struct(">BHI")
_CONTENT_HEADER = struct.Struct(">HHQ")
# Bytes of a frame around its payload (type, channel, size, end): py-amqp's chunk size is
# frame_max minus this.
_FRAME_WRAPPING = 8
_SHORTSTR_MAX = 255
# Property flag bits, in py-amqp's ``Message.PROPERTIES`` order (the AMQP basic class).
_CONTENT_TYPE = 1 << 15
_HEADERS = 1 << 13
_DELIVERY_MODE = 1 << 12
_CORRELATION_ID = 1 << 10
_REPLY_TO = 1 << 9
_EXPIRATION = 1 << 8
_MESSAGE_ID = 1 << 7
_TYPE = 1 << 5
# AMQP delivery modes: 2 = persistent (written to disk by durable queues), 1 = transient.
_PERSISTENT = b"\x02"
_TRANSIENT = b"\x01"
_EMPTY_TABLE = b"\x00\x00\x00\x00"


def _shortstr(value: str) -> bytes:
    raw = value.encode()
    if len(raw) > _SHORTSTR_MAX:
        raise ValueError(f"AMQP short string over {_SHORTSTR_MAX} bytes: {value[:40]!r}...")
    return bytes((len(raw),)) + raw


def encode_properties(message: OutgoingMessage) -> bytes:
    """The property flags and list of ``message``'s content header, as py-amqp writes them.

    The same properties ``shared.broker.convert.to_transport`` gives py-amqp: content type,
    headers (always, an empty table when none), delivery mode, and the optional ids.
    """
    flags = _CONTENT_TYPE | _HEADERS | _DELIVERY_MODE
    headers = dumps("F", (dict(message.headers),)) if message.headers else _EMPTY_TABLE
    parts = [
        _shortstr(message.content_type),
        headers,
        _PERSISTENT if message.persistent else _TRANSIENT,
    ]
    if message.correlation_id is not None:
        flags |= _CORRELATION_ID
        parts.append(_shortstr(message.correlation_id))
    if message.reply_to is not None:
        flags |= _REPLY_TO
        parts.append(_shortstr(message.reply_to))
    if message.expiration_ms is not None:
        flags |= _EXPIRATION
        parts.append(_shortstr(str(message.expiration_ms)))  # AMQP wants a string
    if message.message_id is not None:
        flags |= _MESSAGE_ID
        parts.append(_shortstr(message.message_id))
    if message.type is not None:
        flags |= _TYPE
        parts.append(_shortstr(message.type))
    return flags.to_bytes(2, "big") + b"".join(parts)


class CorkedWriter:
    """Writes ``basic.publish`` frames for one py-amqp connection, in batches.

    Not thread-safe, like the connection it belongs to.  Call ``flush`` before reading
    from the socket and at the end of a batch; ``discard`` after a connection error.
    """

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self._transport = connection.transport
        self._chunks: list[bytes] = []
        self._size = 0
        self._methods: dict[tuple[int, str, str, bool], bytes] = {}

    def publish(self, channel_id: int, message: OutgoingMessage) -> None:
        """Encode one ``basic.publish`` with its content; send if enough is gathered."""
        body = message.body
        header = _CONTENT_HEADER.pack(_BASIC_CLASS, 0, len(body)) + encode_properties(message)
        parts = [
            self._method(channel_id, message.exchange, message.routing_key, message.mandatory),
            _FRAME.pack(_HEADER, channel_id, len(header)),
            header,
            _FRAME_END,
        ]
        # The body goes in frames of at most frame_max (negotiated, may change on tune).
        chunk = self._connection.frame_max - _FRAME_WRAPPING
        for start in range(0, len(body), chunk):
            piece = body[start : start + chunk]
            parts += (_FRAME.pack(_BODY, channel_id, len(piece)), piece, _FRAME_END)
        data = b"".join(parts)
        self._chunks.append(data)
        self._size += len(data)
        if self._size >= _FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Send everything gathered (raises the transport's errors)."""
        if not self._chunks:
            return
        data = b"".join(self._chunks)
        self.discard()
        self._transport.write(data)

    def discard(self) -> None:
        """Forget what was gathered and not sent."""
        self._chunks.clear()
        self._size = 0

    def _method(self, channel_id: int, exchange: str, routing_key: str, mandatory: bool) -> bytes:
        key = (channel_id, exchange, routing_key, mandatory)
        frame = self._methods.get(key)
        if frame is None:
            if len(self._methods) >= _MAX_CACHED_METHODS:
                self._methods.clear()
            arguments = dumps(_BASIC_PUBLISH_ARGSIG, (0, exchange, routing_key, mandatory, False))
            payload = struct.pack(">HH", _BASIC_CLASS, _BASIC_PUBLISH_METHOD) + arguments
            frame = _FRAME.pack(_METHOD, channel_id, len(payload)) + payload + _FRAME_END
            self._methods[key] = frame
        return frame
