"""Reading the broker's socket in large chunks instead of one system call per frame part.

py-amqp reads exactly what it needs next: a frame's 7-byte header, then its payload,
then its end octet, each with its own ``recv`` (and, on a socket with a timeout, a
``poll`` before it): nine or more system calls for every delivery, whose method, content
header and body are three frames.  ``ReadAhead`` stands in for the transport's receive
function: it asks the socket for up to ``CHUNK`` bytes at once and hands py-amqp the
exact pieces it asks for from that, so a burst of deliveries costs one system call per
chunk.  py-amqp's own handling (partial frames kept across timeouts, closed sockets,
interrupted calls) is unchanged: only the source of its bytes is.

Bytes read ahead are held here, not in the kernel, so a select on the socket no longer
sees them: whoever sleeps on the socket must ask ``pending`` first (``Link``).  And the
frames already here can be handed on without a socket timeout (``holds_frame``): py-amqp
sets and restores the socket's timeout around every frame it reads, two more system
calls per frame.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["CHUNK", "ReadAhead"]

# Bytes asked of the socket at once: dozens of small deliveries, a burst's worth of acks
# or confirms; py-amqp's own frame limit (128 KB by default) needs a few reads at most.
CHUNK = 64 * 1024
# An AMQP frame: type (1 octet), channel (2), payload size (4), payload, end octet.
_FRAME_HEADER = 7
_SIZE_AT = 3


class ReadAhead:
    """A ``recv(n)`` that returns at most ``n`` bytes, reading up to ``CHUNK`` at a time.

    Not thread-safe, like the py-amqp connection that calls it.
    """

    def __init__(self, recv: Callable[[int], bytes]) -> None:
        self._recv = recv
        self._buffer = b""
        self._position = 0

    @property
    def pending(self) -> int:
        """Bytes read from the socket and not yet handed out."""
        return len(self._buffer) - self._position

    def holds_frame(self) -> bool:
        """True if a whole AMQP frame (header, payload, end octet) waits read ahead."""
        waiting = len(self._buffer) - self._position
        if waiting < _FRAME_HEADER:
            return False
        start = self._position + _SIZE_AT
        size = int.from_bytes(self._buffer[start : start + 4], "big")
        return waiting >= _FRAME_HEADER + size + 1

    def __call__(self, size: int) -> bytes:
        buffer, position = self._buffer, self._position
        if position < len(buffer):
            end = min(position + size, len(buffer))
            self._position = end
            return buffer[position:end]
        data = self._recv(max(size, CHUNK))  # raises what the socket raises, nothing lost
        if len(data) <= size:
            return data  # all of it (b"" when the broker closed the connection)
        self._buffer, self._position = data, size
        return data[:size]
