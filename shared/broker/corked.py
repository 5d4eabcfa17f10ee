"""Sending the frames of many publishes with one socket write ("corking").

py-amqp writes each message (method, header and body frames) with its own ``sendall``:
for small messages that system call is about half the cost of a pipelined publish.  Here
py-amqp's own frame encoder writes into a buffer instead, and the buffer goes out in one
write once it holds enough, and always before the publisher reads from the socket, so
the broker never waits for a message it should already have.
"""

from __future__ import annotations

from typing import Any

from amqp.method_framing import frame_writer
from amqp.serialization import dumps

__all__ = ["CorkedWriter"]

# Send once this many bytes are gathered: large enough to make the per-write cost vanish
# (a few hundred small messages), small enough to keep the broker busy meanwhile.
_FLUSH_BYTES = 64 * 1024
# basic.publish: its (class, method) id, and its arguments' types: reserved short,
# exchange, routing key, mandatory, immediate.  The encoded arguments are the same for
# every message to one destination: they are encoded once (a sixth of a burst's publish
# CPU went to encoding them again per message), for at most this many destinations.
_MAX_CACHED_ARGUMENTS = 1024
_BASIC_PUBLISH = (60, 40)
_BASIC_PUBLISH_ARGSIG = "Bssbb"


class CorkedWriter:
    """Writes ``basic.publish`` frames for one py-amqp connection, in batches.

    Not thread-safe, like the connection it belongs to.  Call ``flush`` before reading
    from the socket and at the end of a batch; ``discard`` after a connection error.
    """

    def __init__(self, connection: Any) -> None:
        self._transport = connection.transport
        self._chunks: list[bytes] = []
        self._size = 0
        self._arguments: dict[tuple[str, str, bool], bytes] = {}
        # py-amqp's encoder, bound to this object's ``write`` instead of the socket's.
        self._write_frame = frame_writer(connection, self)

    def publish(
        self, channel_id: int, exchange: str, routing_key: str, mandatory: bool, content: Any
    ) -> None:
        """Encode one ``basic.publish`` with its content; send if enough is gathered."""
        key = (exchange, routing_key, mandatory)
        arguments = self._arguments.get(key)
        if arguments is None:
            if len(self._arguments) >= _MAX_CACHED_ARGUMENTS:
                self._arguments.clear()
            arguments = dumps(_BASIC_PUBLISH_ARGSIG, (0, exchange, routing_key, mandatory, False))
            self._arguments[key] = arguments
        self._write_frame(1, channel_id, _BASIC_PUBLISH, arguments, content)
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

    def write(self, data: Any) -> None:
        """Called by py-amqp's frame encoder with a view of its reused buffer: copy it."""
        chunk = bytes(data)
        self._chunks.append(chunk)
        self._size += len(chunk)
