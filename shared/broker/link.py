"""One live kombu connection: channels, the frame pump and error translation.

A ``Link`` lives from one successful connect to its close or to the first connection
error.  Once broken it stays broken: every later call raises ``BrokerUnavailable`` and
the owner builds a new link.  Publishers survive that (they reopen their channel on the
next link); consumers do not, because their delivery tags die with their channel.

Incoming deliveries are never handed to user code while frames are being read (for
example while a publisher waits for confirms).  Consumers queue a callback with
``call_soon`` instead, and ``BrokerConnection.drain_events`` runs the queue, so
``on_message`` is never re-entered from inside ``publish_many``.
"""

from __future__ import annotations

import logging
import select
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from kombu.connection import Connection

from dueq.shared.broker.readahead import ReadAhead
from dueq.shared.broker.undecodable import install as tolerate_undecodable_deliveries
from dueq.shared.errors import BrokerUnavailable
from dueq.shared.redact import redact_text, redact_url

__all__ = ["Link", "describe", "is_caused_by", "kombu_connection"]

logger = logging.getLogger(__name__)

# Heartbeats go out only between reads, so no single read may block for longer than this
# share of the heartbeat interval (RabbitMQ drops a client silent for two intervals).
_READ_SLICE_SHARE = 0.25
# py-amqp wants its heartbeat check called about once a second (more often for very short
# heartbeats); calling it for every frame would only cost time.
_HEARTBEAT_CHECK_EVERY_S = 1.0


def kombu_connection(url: str, **options: Any) -> Any:
    """Create a (not yet connected) ``kombu.Connection``.

    kombu is only partly typed; past this boundary its objects are ``Any``.
    """
    factory: Any = Connection
    return factory(url, **options)


def describe(exc: BaseException) -> str:
    """One line for an error message: the exception's type and text, passwords redacted."""
    text = str(exc).strip()
    name = type(exc).__name__
    return redact_text(f"{name}: {text}" if text else name)


def is_caused_by(exc: BaseException, methods: Iterable[tuple[int, int]]) -> bool:
    """True if channel error ``exc`` answers one of ``methods`` (or names no method).

    py-amqp raises a channel's error from whichever call reads the broker's close, which
    may belong to another channel; the failed method's (class, method) id says whose
    call caused it.
    """
    method_sig = getattr(exc, "method_sig", None)
    return not method_sig or tuple(method_sig) in set(methods)


class Link:
    """A connected ``kombu.Connection`` plus what dueq needs around it."""

    def __init__(
        self,
        connection: Any,
        *,
        url: str,
        heartbeat: float,
        ready: deque[Callable[[], None]],
    ) -> None:
        self.url = url
        self._conn = connection
        # The transport's own connection object (py-amqp's, or the virtual transport).
        self._raw = connection.connection
        self._read_slice = heartbeat * _READ_SLICE_SHARE if heartbeat > 0 else None
        self._check_every = min(_HEARTBEAT_CHECK_EVERY_S, heartbeat * _READ_SLICE_SHARE)
        self._last_heartbeat_check = 0.0
        self._broken: str | None = None
        self._closed = False
        self._ready = ready
        self._before_close: list[Callable[[], None]] = []
        # A real AMQP broker (RabbitMQ); False for kombu's in-memory transport.
        self.is_amqp = connection.transport.driver_type == "amqp"
        self.connection_errors: tuple[type[BaseException], ...] = tuple(
            connection.connection_errors
        )
        self.channel_errors: tuple[type[BaseException], ...] = tuple(connection.channel_errors)
        # py-amqp raises AttributeError when used after the socket went away.
        self._transport_errors: tuple[type[BaseException], ...] = (
            *self.connection_errors,
            *self.channel_errors,
            AttributeError,
        )
        self._closing_errors: tuple[type[BaseException], ...] = (
            BrokerUnavailable,
            *self._transport_errors,
        )
        # Since when the broker has blocked publishing on this connection (None: it hasn't).
        self.blocked_since: float | None = None
        self._read_ahead: ReadAhead | None = None
        if self.is_amqp:
            self._raw.on_blocked = self._blocked
            self._raw.on_unblocked = self._unblocked
            transport = self._raw.transport
            self._read_ahead = transport._quick_recv = ReadAhead(transport._quick_recv)
            tolerate_undecodable_deliveries()

    def _blocked(self, reason: str) -> None:
        """connection.blocked: a resource alarm (memory or disk) stops our publishes."""
        self.blocked_since = time.monotonic()
        logger.warning(
            "broker %s blocks publishing (%s): a memory or disk alarm; messages wait until "
            "it lifts, nothing is dropped",
            redact_url(self.url),
            reason,
        )

    def _unblocked(self) -> None:
        since, self.blocked_since = self.blocked_since, None
        held = f" after {time.monotonic() - since:.1f} s" if since is not None else ""
        logger.warning("broker %s unblocked publishing%s", redact_url(self.url), held)

    @property
    def raw(self) -> Any:
        """The transport's own connection object (py-amqp's on RabbitMQ)."""
        return self._raw

    @property
    def alive(self) -> bool:
        """True until closed or until a connection error was seen."""
        return self._broken is None and not self._closed

    def check_alive(self, action: str) -> None:
        """Raise ``BrokerUnavailable`` if this link can no longer be used."""
        if self._closed:
            raise BrokerUnavailable(self.url, f"{action}: the connection is closed")
        if self._broken is not None:
            raise BrokerUnavailable(
                self.url, f"{action}: the connection was lost ({self._broken}); reconnect"
            )

    def fail(self, action: str, exc: BaseException) -> BrokerUnavailable:
        """Mark the link broken because of ``exc``; return the error to raise."""
        return self.give_up(action, describe(exc))

    def give_up(self, action: str, reason: str) -> BrokerUnavailable:
        """Mark the link broken for ``reason``; return the error to raise."""
        if self._broken is None:
            self._broken = reason
        return BrokerUnavailable(self.url, f"{action}: {reason}")

    @contextmanager
    def guard(self, action: str) -> Iterator[None]:
        """Turn transport errors raised inside into ``BrokerUnavailable``.

        Channel errors count too: one surfacing here may belong to any channel of the
        connection (py-amqp reports them from whichever call reads the frame), and a
        consumer whose channel the broker closed would otherwise go silently deaf.
        """
        self.check_alive(action)
        try:
            yield
        except self._transport_errors as exc:
            raise self.fail(action, exc) from exc

    def channel(self) -> Any:
        """Open a new channel on this connection."""
        with self.guard("open channel"):
            return self._conn.channel()

    def pump(self, timeout: float) -> bool:
        """Read and dispatch incoming frames for up to ``timeout`` s; False if none came."""
        with self.guard("receive"):
            return self.read_frames(timeout)

    def read_frames(self, timeout: float) -> bool:
        """``pump`` without error translation, for callers that sort channel errors first.

        Call it inside ``guard()``.  Reads in slices so heartbeats go out between them.
        """
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            self.heartbeat()
            remaining = max(deadline - time.monotonic(), 0.0)
            step = remaining if self._read_slice is None else min(remaining, self._read_slice)
            try:
                self._conn.drain_events(timeout=step)
            except TimeoutError:  # socket.timeout
                if time.monotonic() >= deadline:
                    return False
            else:
                self._dispatch_read_ahead()
                return True

    def _dispatch_read_ahead(self) -> None:
        """Hand py-amqp every whole frame already read ahead, as its ``blocking_read``
        would, minus the socket timeout it sets and restores around each: these frames
        are in memory, so reading them cannot block.  Not while py-amqp holds part of a
        frame itself (the read-ahead bytes then do not start a frame)."""
        read_ahead = self._read_ahead
        if read_ahead is None:
            return
        transport = self._raw.transport
        while read_ahead.holds_frame() and not getattr(transport, "_read_buffer", b""):
            self._raw.on_inbound_frame(transport.read_frame())

    @property
    def waitable(self) -> bool:
        """True if ``wait_readable`` can sleep on the socket (py-amqp), False for memory://."""
        return bool(self.is_amqp)

    def wait_readable(self, timeout: float, wake_fd: int) -> bool:
        """Sleep until the broker sent bytes (True), ``wake_fd`` is readable or ``timeout``
        passed (False); no longer than a heartbeat slice.  py-amqp only (``waitable``).

        Bytes already read from the socket and not yet handed out count as sent: those
        read ahead (``ReadAhead``), a TLS record's other frames, a frame py-amqp read in
        part.
        """
        with self.guard("receive"):
            transport = self._raw.transport
            sock = transport.sock
            pending = getattr(sock, "pending", None)  # ssl.SSLSocket: decrypted, unread
            read_ahead = self._read_ahead is not None and self._read_ahead.pending > 0
            partly_read = bool(getattr(transport, "_read_buffer", b""))
            if read_ahead or partly_read or (pending is not None and pending()):
                return True
            if self._read_slice is not None:
                timeout = min(timeout, self._read_slice)
            readable, _, _ = select.select([sock, wake_fd], [], [], max(timeout, 0.0))
            self.heartbeat()
            return bool(sock in readable)

    def heartbeat(self) -> None:
        """Send a heartbeat if one is due; raise if the broker's stopped arriving."""
        now = time.monotonic()
        if now - self._last_heartbeat_check >= self._check_every:
            self._last_heartbeat_check = now
            self._conn.heartbeat_check()

    def call_soon(self, callback: Callable[[], None]) -> None:
        """Queue ``callback`` for the owner's next ``drain_events`` (safe from any thread)."""
        self._ready.append(callback)

    def before_close(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` when the link is closed while still alive (e.g. requeue deliveries)."""
        self._before_close.append(hook)

    def close(self) -> None:
        """Close the connection: politely if alive, by dropping the socket if broken."""
        if self._closed:
            return
        if self.alive:
            try:
                for hook in self._before_close:
                    hook()
                self._conn.release()
            except self._closing_errors:
                pass  # the broker went away while we said goodbye: drop the socket
        self._closed = True
        self._conn.collect()
        if self.is_amqp:
            # kombu swallows errors raised during the close handshake (say, a consumer
            # cancelled by the broker) and then forgets the socket without closing it.
            self._raw.collect()
