"""Waking a thread that waits on the broker's socket, from any other thread.

A thread that owns a ``BrokerConnection`` sleeps in the socket read; work handed to it
by other threads (an event to publish, a delivery to ack) must wake it.  Polling for
that work with short reads costs a wake-up every fraction of a millisecond while runs are
in flight: at 100 runs a second a worker's broker thread woke ~1,000 times a second, and
each timed-out read raises and catches ``socket.timeout`` through py-amqp and kombu.  A
``Waker`` is the classic self-pipe instead: ``BrokerConnection.wait`` selects on the
broker's socket and the waker's, and ``wake`` writes one byte.

Ordering that loses no wake-up: the waker ``wake``s after handing its work over; the
waiting thread ``clear``s before it takes the work.  Work handed over after the take
finds the waker cleared and writes again.
"""

from __future__ import annotations

import contextlib
import socket

__all__ = ["Waker"]


class Waker:
    """A socket pair: ``wake`` from any thread makes ``fileno`` readable until ``clear``."""

    def __init__(self) -> None:
        self._pair: tuple[socket.socket, socket.socket] | None = None
        self._pending = False

    def fileno(self) -> int:
        """The descriptor to select on (created at the first call: wakes before are moot)."""
        if self._pair is None:
            reader, writer = socket.socketpair()
            reader.setblocking(False)
            writer.setblocking(False)
            self._pair = (reader, writer)
        return self._pair[0].fileno()

    def wake(self) -> None:
        """Make the waiting thread return (cheap when a wake is already pending)."""
        pair = self._pair  # one read: ``close`` may run meanwhile in the owner's thread
        if self._pending or pair is None:
            return
        self._pending = True
        # OSError: the buffer is full (wakes are pending anyway) or the pair was closed.
        with contextlib.suppress(OSError):
            pair[1].send(b"\0")

    def clear(self) -> None:
        """Forget pending wakes; call before taking the work they announced."""
        pair = self._pair
        if pair is None:
            return
        with contextlib.suppress(OSError):  # BlockingIOError: nothing (more) to read
            while pair[0].recv(4096):
                pass
        self._pending = False

    def close(self) -> None:
        """Close the socket pair (a later ``fileno`` makes a new one)."""
        pair, self._pair = self._pair, None
        if pair is not None:
            for end in pair:
                end.close()
