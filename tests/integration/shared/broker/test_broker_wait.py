"""``BrokerConnection.wait``: sleeping on RabbitMQ's socket until a frame or a wake comes."""

from __future__ import annotations

import threading
import time

from dueq.shared.broker import BrokerConnection, IncomingMessage, OutgoingMessage
from dueq.shared.broker.waker import Waker
from dueq.shared.topology import Topology

# Far longer than a wake takes; a wait that ignored the waker would sleep this long (up to
# a heartbeat slice, 7.5 s with the default heartbeat).
_LONG_S = 60.0
_WOKEN_WITHIN_S = 5.0


def test_a_connection_to_rabbitmq_can_wait_on_its_socket(amqp_conn: BrokerConnection) -> None:
    assert amqp_conn.wakeable


def test_wait_returns_when_another_thread_wakes_it(amqp_conn: BrokerConnection) -> None:
    waker = Waker()
    waker.fileno()
    try:
        thread = threading.Thread(target=waker.wake)
        started = time.monotonic()
        thread.start()
        assert amqp_conn.wait(_LONG_S, waker) is False  # woken: no frame came
        assert time.monotonic() - started < _WOKEN_WITHIN_S
        thread.join()
        # The wake was consumed: the next short wait sleeps its timeout.
        assert amqp_conn.wait(0.01, waker) is False
    finally:
        waker.close()


def test_wait_returns_with_a_delivery_that_arrives_meanwhile(
    amqp_conn: BrokerConnection, topology: Topology
) -> None:
    received: list[IncomingMessage] = []
    queue = topology.run_queue("default")
    consumer = amqp_conn.consumer([queue], prefetch=10, on_message=received.append)
    consumer.start()
    amqp_conn.publisher().publish_many(
        [OutgoingMessage(body=b"{}", exchange=topology.runs_exchange, routing_key="default")]
    )
    waker = Waker()
    try:
        started = time.monotonic()
        while not received:
            amqp_conn.wait(_LONG_S, waker)
        assert time.monotonic() - started < _WOKEN_WITHIN_S
        assert received[0].body == b"{}"
    finally:
        waker.close()
        consumer.close()
