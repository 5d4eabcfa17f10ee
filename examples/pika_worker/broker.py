"""The broker side: the layout of docs/protocol.md ("Broker layout") and confirmed publishes.

RabbitMQ refuses a redeclaration whose arguments differ from the existing entity's, so
every entity is declared with exactly the arguments dueq itself uses.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import pika
from pika.exceptions import NackError, UnroutableError

from examples.pika_worker.protocol import format_utc
from examples.pika_worker.signing import sign

__all__ = ["Layout", "Publisher", "connection_parameters", "declare_layout", "redact_url"]

log = logging.getLogger("pika_worker")

# Publishes of one event before it is given up as lost when the broker nacks it (dueq's own
# worker sends it twice more, after a pause: docs/protocol.md, Events).
EVENT_ATTEMPTS = 2

# docs/protocol.md: a quorum run queue dead-letters a message after this many deliveries.
DELIVERY_LIMIT = 20

# AMQP delivery_mode for messages that survive a broker restart.
PERSISTENT = 2


@dataclass(frozen=True, kw_only=True)
class Layout:
    """The names and arguments of every entity this consumer touches."""

    prefix: str
    queue: str
    queue_type: str = "quorum"

    @property
    def runs_exchange(self) -> str:
        return f"{self.prefix}.runs"

    @property
    def run_queue(self) -> str:
        return f"{self.prefix}.runs.{self.queue}"

    @property
    def dlx(self) -> str:
        return f"{self.prefix}.dlx"

    @property
    def dead_queue(self) -> str:
        return f"{self.prefix}.dead"

    @property
    def events_queue(self) -> str:
        return f"{self.prefix}.events"

    def run_queue_arguments(self) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "x-queue-type": self.queue_type,
            "x-dead-letter-exchange": self.dlx,
        }
        if self.queue_type == "quorum":
            arguments["x-delivery-limit"] = DELIVERY_LIMIT
        return arguments


def declare_layout(channel: Any, layout: Layout) -> None:
    """Declare the runs exchange and queue, the dead-letter pair and the events queue."""
    # dueq declares its dead queue with the queue type as its only argument, and its events
    # queue like a run queue (dead-lettering and the delivery limit).
    plain = {"x-queue-type": layout.queue_type}
    channel.exchange_declare(layout.runs_exchange, exchange_type="direct", durable=True)
    channel.exchange_declare(layout.dlx, exchange_type="fanout", durable=True)
    channel.queue_declare(layout.dead_queue, durable=True, arguments=plain)
    channel.queue_bind(layout.dead_queue, layout.dlx, routing_key="")
    channel.queue_declare(layout.events_queue, durable=True, arguments=layout.run_queue_arguments())
    channel.queue_declare(layout.run_queue, durable=True, arguments=layout.run_queue_arguments())
    channel.queue_bind(layout.run_queue, layout.runs_exchange, routing_key=layout.queue)


class Publisher:
    """Publishes on a channel in confirm mode: each call returns once the broker confirmed.

    Only the thread that owns the connection may call it (pika is not thread-safe).
    """

    def __init__(self, channel: Any, layout: Layout, signing_key: bytes | None = None) -> None:
        self._channel = channel
        self._layout = layout
        self._key = signing_key
        channel.confirm_delivery()

    def event(self, body: dict[str, Any]) -> None:
        """Publish an event to the events queue via the default exchange (signed with a key).

        Never to a run's ``reply_to``: whoever can publish a run could name any queue there.
        """
        routing_key = self._layout.events_queue
        data, kind = json.dumps(body).encode(), body["event"]
        properties = pika.BasicProperties(
            content_type="application/json",
            delivery_mode=PERSISTENT,
            correlation_id=body.get("run_id"),
            type=kind,
            headers=sign(self._key, kind, data) if self._key else None,
        )
        for attempt in range(1, EVENT_ATTEMPTS + 1):
            try:
                self._channel.basic_publish("", routing_key, data, properties, mandatory=True)
                return
            except UnroutableError:
                # Confirmed but unroutable: the events queue is gone. Retrying cannot help.
                log.error("event %s lost: no queue named %r", kind, routing_key)
                return
            except NackError:
                # The queue refused it (a length limit, say): once more, then the run is
                # settled anyway, so it never stays unacknowledged (docs: nacked events).
                log.warning("event %s nacked by the broker (attempt %d)", kind, attempt)
        log.error("event %s lost: nacked %d times", kind, EVENT_ATTEMPTS)

    def dead_letter(self, body: bytes, properties: Any, routing_key: str, reason: str) -> None:
        """Republish a bad message to the DLX with the reason headers (docs: Bad messages)."""
        # x-delivery-count belongs to one delivery from one quorum queue; a copy would lie.
        headers = {k: v for k, v in (properties.headers or {}).items() if k != "x-delivery-count"}
        headers["x-dueq-reason"] = reason
        headers["x-dueq-source-queue"] = self._layout.run_queue
        headers["x-dueq-dead-at"] = format_utc(datetime.now(UTC))
        copy = pika.BasicProperties(
            content_type=properties.content_type,
            content_encoding=properties.content_encoding,
            headers=headers,
            delivery_mode=properties.delivery_mode,
            priority=properties.priority,
            correlation_id=properties.correlation_id,
            reply_to=properties.reply_to,
            expiration=None,  # a parked message must not expire out of the dead queue
            message_id=properties.message_id,
            timestamp=properties.timestamp,
            type=properties.type,
            user_id=properties.user_id,
            app_id=properties.app_id,
        )
        self._channel.basic_publish(self._layout.dlx, routing_key, body, copy, mandatory=True)


def connection_parameters(url: str) -> list[Any]:
    """pika's parameters for each node of ``url`` (``amqp://n1;amqp://n2``: failover).

    ``pika.BlockingConnection`` takes the list and connects to the first node that
    answers.  The vhost is read as the AMQP URI spec does: the whole path after the first
    ``/``, percent-decoded, so ``amqp://host//`` means vhost ``/``; pika would read an
    empty name there, so the vhost is re-encoded before pika sees it.
    """
    return [_node_parameters(node) for node in _nodes(url)]


def _nodes(url: str) -> list[str]:
    return [node.strip() for node in url.split(";") if node.strip()]


def _node_parameters(url: str) -> Any:
    parts = urlsplit(url)
    if len(parts.path) > 1:
        parts = parts._replace(path="/" + quote(unquote(parts.path[1:]), safe=""))
    return pika.URLParameters(urlunsplit(parts))


def redact_url(url: str) -> str:
    """``url`` (every node of a failover URL) with its password replaced by ``***``."""
    return ";".join(_redact_node(node) for node in _nodes(url))


def _redact_node(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
