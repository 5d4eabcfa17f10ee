"""The kombu adapter: the only place in dueq that imports kombu or py-amqp.

Everything else speaks in ``OutgoingMessage``/``IncomingMessage`` values and these
classes; names and arguments of exchanges and queues come from ``shared.topology``.

Typical use, all in one thread::

    with BrokerConnection(url, name="dueq-worker") as conn:
        conn.declare_topology(topology, ["default"])
        conn.publisher().publish_many(messages)        # returns once all are confirmed
        consumer = conn.consumer([topology.run_queue("default")], prefetch=8,
                                 on_message=handle)
        consumer.start()
        while running:
            conn.drain_events(timeout=1.0)             # calls handle(), sends heartbeats

What callers must know:

- Threads: a ``BrokerConnection`` and its publishers/consumers belong to one thread.
  Other threads hand work over with ``conn.call_soon(fn)`` (e.g. "publish the outcome,
  then ack"); it runs at that thread's next ``drain_events``.
- ``on_message`` runs only inside ``drain_events`` and must return quickly (hand the job
  to an executor): heartbeats are sent between reads, and RabbitMQ drops a connection
  silent for two heartbeat intervals.  Call ``drain_events`` at least every
  ``heartbeat / 2`` seconds, idle or not.
- Failures: ``BrokerUnavailable`` means this connection is dead.  Recover with
  ``conn.connect()`` (tenacity around it), then ``declare_topology`` again and make new
  consumers; publishers carry on.  Deliveries of the old connection can no longer be
  acked (their ack raises ``BrokerUnavailable``): RabbitMQ redelivers them with
  ``redelivered=True``.  Messages whose ``publish_many`` raised ``BrokerUnavailable``
  may or may not have arrived: publish them again (deduplicate on ``message_id``).
- ``memory://`` (embedded mode): no server, queues shared by every connection in the
  process (the URL's virtual host does not separate them).  No publisher confirms; the
  adapter emulates ``mandatory`` routing checks, dead-lettering on
  ``reject(requeue=False)`` (for queues declared through ``declare_topology`` on the same
  ``BrokerConnection``) and requeueing of unacked deliveries on close.  There is no
  delivery limit, message expiry or ``x-delivery-count``.  Deliveries are polled every
  10 ms.
"""

from __future__ import annotations

from dueq.shared.broker.connection import BrokerConnection
from dueq.shared.broker.consumer import Consumer
from dueq.shared.broker.dead_letter import (
    DEAD_AT_HEADER,
    MAX_REASON_CHARS,
    REASON_HEADER,
    SOURCE_QUEUE_HEADER,
    dead_letter,
)
from dueq.shared.broker.dead_queue import DeadLetter, DeadLetterQueue, ReplayResult
from dueq.shared.broker.errors import DeliveryTagError, PublishError, PublishFailure, TopologyError
from dueq.shared.broker.messages import IncomingMessage, OutgoingMessage
from dueq.shared.broker.publisher import DEFAULT_MAX_IN_FLIGHT, Publisher, Sent

__all__ = [
    "DEAD_AT_HEADER",
    "DEFAULT_MAX_IN_FLIGHT",
    "MAX_REASON_CHARS",
    "REASON_HEADER",
    "SOURCE_QUEUE_HEADER",
    "BrokerConnection",
    "Consumer",
    "DeadLetter",
    "DeadLetterQueue",
    "DeliveryTagError",
    "IncomingMessage",
    "OutgoingMessage",
    "PublishError",
    "PublishFailure",
    "Publisher",
    "ReplayResult",
    "Sent",
    "TopologyError",
    "dead_letter",
]
