"""A tap on RabbitMQ: a pika consumer thread recording every message it sees, with times.

The ledger's second record (what was published) comes from here: a private queue bound
to the runs exchange gets a copy of every RunRequest the scheduler had confirmed, in
publishing order.  It talks to RabbitMQ directly, never through a fault proxy, and with
pika rather than kombu: an instrument independent of the code under test.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import pika

from dueq.shared.errors import ProtocolError
from dueq.shared.protocol import RunRequest, decode_run

__all__ = ["RabbitTap", "TapMessage", "pika_url"]

# pika's wait per poll of its socket: bounds how late ``close()`` is noticed.
_TAP_POLL_S = 0.1


def pika_url(url: str) -> str:
    """``url`` as pika reads it: kombu's ``amqp://h//`` means vhost "/", pika wants %2F."""
    parts = urlsplit(url)
    vhost = unquote(parts.path[1:]) or "/"
    return urlunsplit(parts._replace(path="/" + quote(vhost, safe="")))


@dataclass(frozen=True)
class TapMessage:
    """One message seen by a tap, with its arrival time (``time.time()``)."""

    arrived: float
    queue: str
    body: bytes
    message_id: str | None
    headers: dict[str, Any]

    def run(self) -> RunRequest | None:
        """The RunRequest the body holds, or None if it is not one."""
        try:
            return decode_run(self.body)
        except ProtocolError:
            return None

    def event(self) -> dict[str, Any] | None:
        """The body as a JSON object (events), or None."""
        try:
            value = json.loads(self.body)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None


class RabbitTap:
    """A pika consumer in a thread of its own, recording every message it receives.

    ``bind`` taps an exchange (a private, exclusive queue bound with a routing key: the
    service's own queues are untouched); ``queues`` consumes existing queues outright
    (the events and dead-letter queues, in tests without a scheduler).  It connects to
    RabbitMQ directly, never through a fault proxy.
    """

    def __init__(
        self,
        url: str,
        *,
        bind: Sequence[tuple[str, str]] = (),
        queues: Sequence[str] = (),
    ) -> None:
        self._url = url
        self._bind = list(bind)
        self._queues = list(queues)
        self._lock = threading.Lock()
        self._messages: list[TapMessage] = []
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="faults-tap", daemon=True)

    def start(self) -> RabbitTap:
        """Connect and start consuming; returns once the tap queues are bound."""
        self._thread.start()
        if not self._ready.wait(15) or self._error is not None:
            raise AssertionError(f"the tap could not start: {self._error!r}")
        return self

    def close(self) -> None:
        """Stop consuming and disconnect (the tap's own queues go with the connection)."""
        self._stop.set()
        self._thread.join(10)

    def messages(self, queue: str | None = None) -> list[TapMessage]:
        """Messages received so far (of one queue, if given), in arrival order."""
        with self._lock:
            return [m for m in self._messages if queue is None or m.queue == queue]

    def runs(self) -> list[tuple[float, RunRequest]]:
        """(arrival time, RunRequest) of every run message received so far."""
        found = []
        for message in self.messages():
            run = message.run()
            if run is not None:
                found.append((message.arrived, run))
        return found

    def _run(self) -> None:
        try:
            connection = pika.BlockingConnection(pika.URLParameters(pika_url(self._url)))
        except Exception as exc:  # reported by start()
            self._error = exc
            self._ready.set()
            return
        try:
            channel = connection.channel()
            for exchange, routing_key in self._bind:
                queue = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
                channel.queue_bind(queue, exchange, routing_key)
                self._consume(channel, queue, f"tap:{exchange}:{routing_key}")
            for queue in self._queues:
                self._consume(channel, queue, queue)
            self._ready.set()
            while not self._stop.is_set():
                connection.process_data_events(time_limit=_TAP_POLL_S)
        except Exception as exc:
            self._error = exc
            self._ready.set()
            raise
        finally:
            if connection.is_open:
                connection.close()

    def _consume(self, channel: Any, queue: str, label: str) -> None:
        def on_message(_channel: Any, _method: Any, properties: Any, body: bytes) -> None:
            message = TapMessage(
                arrived=time.time(),
                queue=label,
                body=body,
                message_id=properties.message_id,
                headers=dict(properties.headers or {}),
            )
            with self._lock:
                self._messages.append(message)

        channel.basic_consume(queue, on_message, auto_ack=True)
