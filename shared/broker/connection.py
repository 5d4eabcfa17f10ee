"""``BrokerConnection``: the one object dueq code holds to talk to the broker.

It owns one kombu connection at a time (a ``Link``) and hands out publishers and
consumers on it.  Nothing here retries: a lost connection raises ``BrokerUnavailable``
and the caller decides (with tenacity) when to ``connect()`` again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Any

from dueq.shared.broker import declare
from dueq.shared.broker.consumer import Consumer
from dueq.shared.broker.dead_queue import DeadLetterQueue
from dueq.shared.broker.link import Link, describe, kombu_connection
from dueq.shared.broker.messages import IncomingMessage
from dueq.shared.broker.publisher import DEFAULT_MAX_IN_FLIGHT, Publisher
from dueq.shared.broker.waker import Waker
from dueq.shared.errors import BrokerUnavailable, ConfigError
from dueq.shared.redact import redact_url, split_urls
from dueq.shared.topology import DEFAULT_QUEUE, Topology

__all__ = ["BrokerConnection"]

# A read that takes what is there without waiting (0 would make the socket non-blocking).
_LOOK_S = 0.0001

# A write blocked this long means the broker stopped reading from us (a resource alarm
# blocks publishers) or the network is gone; failing lets the caller reconnect and retry.
_WRITE_TIMEOUT_S = 30.0
# memory:// has no sockets to wait on, so kombu polls its queues; its default of 1 s
# would delay every run and event of the embedded mode by up to a second.
_MEMORY_POLL_INTERVAL_S = 0.01
_SUPPORTED_DRIVERS = ("amqp", "memory")


class BrokerConnection:
    """A connection to RabbitMQ (``amqp://``, ``amqps://``) or kombu's ``memory://``.

    Not thread-safe: create, use and close it in one thread.  The one exception is
    ``call_soon``, which any thread may call to have work (such as an ack) done in the
    connection's thread at its next ``drain_events``.  Give each thread that talks to the
    broker a connection of its own; several connections to the same ``memory://`` URL in
    one process share its queues.

    Drive it with ``drain_events`` at least every ``heartbeat / 2`` seconds, even when
    idle: heartbeats are sent from there, and a silent client is dropped by RabbitMQ.
    """

    def __init__(
        self,
        url: str,
        *,
        heartbeat: float = 30,
        connect_timeout: float = 10,
        name: str | None = None,
    ) -> None:
        self._url = url
        self._heartbeat = heartbeat
        self._connect_timeout = connect_timeout
        self._name = name
        self._driver = _driver_type(url)
        # The nodes of a failover URL ("amqp://n1;amqp://n2"), and the one to try first.
        self._nodes = split_urls(url)
        self._node = 0
        self._link: Link | None = None
        self._ready: deque[Callable[[], None]] = deque()
        # run queue -> its dead-letter exchange, for memory://, which ignores x-arguments.
        self._dead_letter_exchanges: dict[str, str] = {}

    def __enter__(self) -> BrokerConnection:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<BrokerConnection {self.url_redacted} connected={self.connected}>"

    @property
    def url_redacted(self) -> str:
        """The broker URL with its password replaced by ``***``."""
        return redact_url(self._url)

    @property
    def node_redacted(self) -> str:
        """The node connected to (or tried first), of a failover URL, password hidden."""
        return redact_url(self._nodes[self._node])

    @property
    def supports_confirms(self) -> bool:
        """True for RabbitMQ (publisher confirms, dead-lettering); False for memory://."""
        return self._driver == "amqp"

    @property
    def connected(self) -> bool:
        """True between a successful ``connect()`` and ``close()`` or a connection error."""
        return self._link is not None and self._link.alive

    def connect(self) -> None:
        """Connect (once, no retries), or reconnect after ``BrokerUnavailable``.

        A no-op while connected.  After a reconnect, publishers carry on, but consumers
        and control queues of the old connection are gone: make them again.
        """
        if self._link is not None:
            if self._link.alive:
                return
            self._link.close()
            self._link = None
        self._link = self._open_link()

    def close(self) -> None:
        """Close the connection; unacknowledged deliveries go back to their queues."""
        link, self._link = self._link, None
        if link is not None:
            link.close()

    def declare_topology(
        self, topology: Topology, queues: Iterable[str] = (DEFAULT_QUEUE,)
    ) -> None:
        """Declare exchanges and queues for ``queues`` (idempotent; see ``shared.topology``)."""
        self._dead_letter_exchanges.update(
            declare.declare_topology(self._current_link(), topology, list(queues))
        )

    def declare_control_queue(self, topology: Topology) -> str:
        """Declare a queue of this connection's own on the control exchange; return its name."""
        return declare.declare_control_queue(self._current_link(), topology)

    def declare_listener_queue(self, topology: Topology) -> str:
        """Declare a queue of this connection's own on the listeners exchange; return it."""
        return declare.declare_listener_queue(self._current_link(), topology)

    def delete_topology(self, topology: Topology, queues: Iterable[str] = (DEFAULT_QUEUE,)) -> None:
        """Delete what ``declare_topology`` made, messages included (tests, ``reset``)."""
        declare.delete_topology(self._current_link(), topology, list(queues))

    def delete_queues(self, queues: Iterable[str]) -> None:
        """Delete queues (if they exist) and the messages in them."""
        declare.delete_queues(self._current_link(), list(queues))

    def queue_depth(self, queue: str) -> int:
        """Messages ready in ``queue``; raises ``TopologyError`` if it does not exist."""
        return declare.queue_depth(self._current_link(), queue)

    def publisher(self, *, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT) -> Publisher:
        """A publisher on a channel of its own (opened at its first publish)."""
        return Publisher(self._current_link, max_in_flight=max_in_flight)

    def dead_letters(self, topology: Topology) -> DeadLetterQueue:
        """``<prefix>.dead`` of ``topology``: browse, replay and purge it."""
        return DeadLetterQueue(self._current_link, self.publisher(), topology)

    def consumer(
        self,
        queues: Sequence[str],
        *,
        prefetch: int,
        on_message: Callable[[IncomingMessage], None],
    ) -> Consumer:
        """A manual-ack consumer of ``queues``; call ``start()`` to begin receiving."""
        return Consumer(
            self._current_link(),
            queues,
            prefetch=prefetch,
            on_message=on_message,
            dead_letter_exchanges=self._dead_letter_exchanges,
        )

    def drain_events(self, timeout: float) -> bool:
        """Process incoming frames and queued work for up to ``timeout`` seconds.

        Runs ``on_message`` for deliveries and the callbacks given to ``call_soon``.
        Returns True if anything was processed, False if ``timeout`` passed idle.
        Raises ``BrokerUnavailable`` when the connection is lost.
        """
        link = self._current_link()
        ran = self._run_ready()
        # With work done already, only take frames that are waiting: don't block, and
        # don't let a steady stream of call_soon work starve the socket either.
        received = link.pump(0 if ran else timeout)
        ran += self._run_ready()
        return received or ran > 0

    @property
    def wakeable(self) -> bool:
        """True if ``wait`` sleeps until the broker or a ``Waker`` has something (RabbitMQ);
        False for memory://, whose owner must poll with short ``drain_events`` instead."""
        return self._current_link().waitable

    def wait(self, timeout: float, waker: Waker) -> bool:
        """``drain_events(timeout)`` that also returns as soon as ``waker`` is woken.

        Clears ``waker`` before returning, so the caller takes the work it announced
        after this call.  Returns True if frames or queued work were processed.  Requires
        ``wakeable``.
        """
        link = self._current_link()
        if self._ready:
            waker.clear()
            return self.drain_events(_LOOK_S)
        sent = link.wait_readable(timeout, waker.fileno())
        waker.clear()
        return self.drain_events(_LOOK_S) if sent else False

    def call_soon(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` in the connection's thread at the next ``drain_events``.

        The only method safe to call from other threads.  Callbacks wait while the
        connection is down and run after the reconnect, so one that acks must expect
        ``BrokerUnavailable`` from a consumer of the old connection.
        """
        self._ready.append(callback)

    def _run_ready(self) -> int:
        count = len(self._ready)
        for _ in range(count):
            self._ready.popleft()()
        return count

    def _current_link(self) -> Link:
        if self._link is None:
            raise BrokerUnavailable(self._url, "not connected: call connect() first")
        self._link.check_alive("use connection")
        return self._link

    def _open_link(self) -> Link:
        """Connect to the first node that answers, starting with the last one that did.

        With one node this is a single attempt.  With a failover list every node is tried
        once per call, so a reconnect after a node died moves to a live one, and the
        caller's backoff applies only when no node answers.
        """
        failures: list[str] = []
        count = len(self._nodes)
        for step in range(count):
            index = (self._node + step) % count
            try:
                link = self._open_node(self._nodes[index])
            except BrokerUnavailable as exc:
                failures.append(exc.reason)
                continue
            self._node = index
            return link
        raise BrokerUnavailable(self._url, "; ".join(failures))

    def _open_node(self, url: str) -> Link:
        connection = kombu_connection(
            url,
            heartbeat=self._heartbeat if self._driver == "amqp" else 0,
            connect_timeout=self._connect_timeout,
            transport_options=self._transport_options(),
        )
        try:
            connection.ensure_connection(max_retries=0, reraise_as_library_errors=False)
        except Exception as exc:
            # Whatever the transport raised (socket, TLS, auth, protocol errors); the
            # message names host and port but never the password.
            host = connection.host
            connection.collect()
            raise BrokerUnavailable(url, f"cannot connect to {host}: {describe(exc)}") from exc
        heartbeat = self._heartbeat if self._driver == "amqp" else 0
        return Link(connection, url=url, heartbeat=heartbeat, ready=self._ready)

    def _transport_options(self) -> dict[str, Any]:
        if self._driver != "amqp":
            return {"polling_interval": _MEMORY_POLL_INTERVAL_S}
        options: dict[str, Any] = {"write_timeout": _WRITE_TIMEOUT_S}
        if self._name:
            options["client_properties"] = {"connection_name": self._name}
        return options


def _driver_type(url: str) -> str:
    """The kombu driver behind ``url`` ("amqp" or "memory"); ConfigError for others."""
    try:
        driver = str(kombu_connection(url).get_transport_cls().driver_type)
    except Exception as exc:  # kombu raises KeyError, ImportError, AttributeError here
        raise ConfigError(f"unsupported broker URL {redact_url(url)}: {describe(exc)}") from exc
    if driver not in _SUPPORTED_DRIVERS:
        raise ConfigError(
            f"unsupported broker URL {redact_url(url)}: use amqp://, amqps:// or memory://"
        )
    return driver
