"""Declaring (and, for tests and resets, deleting) dueq's exchanges and queues.

Every name and ``x-`` argument comes from ``shared.topology.Topology``; this module only
turns it into AMQP declarations.  Declarations are idempotent, so every process declares
what it uses at start-up.  Each call uses a channel of its own: RabbitMQ answers a
mismatched declaration by closing the channel, and that must not take a publisher or a
consumer down with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport.virtual import NotEquivalentError

from dueq.shared.broker.errors import TopologyError
from dueq.shared.broker.link import Link, describe, is_caused_by
from dueq.shared.broker.memory import queue_exists
from dueq.shared.topology import Topology

__all__ = [
    "declare_control_queue",
    "declare_listener_queue",
    "declare_topology",
    "delete_topology",
    "queue_depth",
]

# AMQP (class, method) ids of the calls whose failure a declaring channel can cause.
_EXCHANGE_DECLARE = (40, 10)
_QUEUE_DECLARE = (50, 10)
_QUEUE_BIND = (50, 20)
_BASIC_CONSUME = (60, 20)
_DECLARING_METHODS = (_EXCHANGE_DECLARE, _QUEUE_DECLARE, _QUEUE_BIND, _BASIC_CONSUME)


def declare_topology(link: Link, topology: Topology, queues: Iterable[str]) -> dict[str, str]:
    """Declare the runs/dead-letter/events/control layout; return run queue -> its DLX."""
    dead_letter_exchanges: dict[str, str] = {}
    with _declaring(link, "declare topology") as channel:
        _exchange(channel, topology.runs_exchange, "direct")
        _exchange(channel, topology.dead_letter_exchange, "fanout")
        _exchange(channel, topology.control_exchange, "fanout")
        _exchange(channel, topology.listeners_exchange, "fanout")
        dead = topology.dead_letter_queue
        _queue(channel, dead, topology.durable_queue_arguments())
        channel.queue_bind(queue=dead, exchange=topology.dead_letter_exchange, routing_key="")
        _queue(channel, topology.events_queue, topology.events_queue_arguments())
        for queue in queues:
            name = topology.run_queue(queue)
            _queue(channel, name, topology.run_queue_arguments())
            channel.queue_bind(
                queue=name,
                exchange=topology.runs_exchange,
                routing_key=topology.run_routing_key(queue),
            )
            dead_letter_exchanges[name] = topology.dead_letter_exchange
    return dead_letter_exchanges


def declare_control_queue(link: Link, topology: Topology) -> str:
    """Declare a private queue bound to the control exchange; return its name."""
    return _declare_private_queue(link, topology.control_exchange)


def declare_listener_queue(link: Link, topology: Topology) -> str:
    """Declare a private queue bound to the listeners exchange; return its name."""
    return _declare_private_queue(link, topology.listeners_exchange)


def _declare_private_queue(link: Link, exchange: str) -> str:
    """Declare a queue of this connection's own bound to the fanout ``exchange``.

    On RabbitMQ the queue is server-named, exclusive and auto-delete (classic: quorum
    queues cannot be exclusive), so it disappears with the connection.  kombu's memory
    transport has neither, so the name is made unique here and the link deletes the
    queue when it closes.
    """
    with _declaring(link, f"declare a private queue on {exchange}") as channel:
        _exchange(channel, exchange, "fanout")
        requested = "" if link.is_amqp else f"amq.gen-{uuid.uuid4().hex}"
        ok = channel.queue_declare(queue=requested, durable=False, exclusive=True, auto_delete=True)
        name = str(ok.queue)
        channel.queue_bind(queue=name, exchange=exchange, routing_key="")
    if not link.is_amqp:
        link.before_close(lambda: delete_queues(link, [name]))
    return name


def queue_depth(link: Link, queue: str) -> int:
    """Messages ready in ``queue`` (not counting unacknowledged ones)."""
    with _declaring(link, "inspect queue") as channel:
        ok = channel.queue_declare(queue=queue, passive=True)
        return int(ok.message_count)


def delete_topology(link: Link, topology: Topology, queues: Iterable[str]) -> None:
    """Delete the queues and exchanges ``declare_topology`` creates (messages are lost)."""
    names = [topology.run_queue(queue) for queue in queues]
    names += [topology.events_queue, topology.dead_letter_queue]
    delete_queues(link, names)
    with _declaring(link, "delete topology") as channel:
        for exchange in (
            topology.runs_exchange,
            topology.dead_letter_exchange,
            topology.control_exchange,
            topology.listeners_exchange,
        ):
            channel.exchange_delete(exchange=exchange)


def delete_queues(link: Link, names: Iterable[str]) -> None:
    """Delete queues if they exist, with any messages in them."""
    with _declaring(link, "delete queues") as channel:
        for name in names:
            if not link.is_amqp and queue_exists(channel, link.channel_errors, name):
                # kombu's memory transport keeps the messages of a deleted queue that has
                # no bindings (such as the events queue), so empty it first.
                channel.queue_purge(queue=name)
            channel.queue_delete(queue=name)


def _exchange(channel: Any, name: str, kind: str) -> None:
    # py-amqp defaults auto_delete to True; dueq's exchanges must outlive their users.
    channel.exchange_declare(exchange=name, type=kind, durable=True, auto_delete=False)


def _queue(channel: Any, name: str, arguments: dict[str, Any]) -> None:
    channel.queue_declare(
        queue=name, durable=True, exclusive=False, auto_delete=False, arguments=arguments
    )


@contextmanager
def _declaring(link: Link, action: str) -> Iterator[Any]:
    """A throw-away channel; errors it causes become ``TopologyError``."""
    channel = link.channel()
    with link.guard(action):
        try:
            yield channel
        except NotEquivalentError as exc:  # memory transport's "inequivalent arg"
            raise TopologyError(f"{action}: {describe(exc)}") from exc
        except link.channel_errors as exc:
            if not is_caused_by(exc, _DECLARING_METHODS):
                raise
            raise TopologyError(f"{action}: {describe(exc)}") from exc
        finally:
            if link.alive:
                channel.close()
