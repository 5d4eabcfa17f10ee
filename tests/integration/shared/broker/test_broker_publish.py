"""Publishing to RabbitMQ: pipelined confirms, and refusals named per message."""

from __future__ import annotations

import pytest

from dueq.shared.broker import BrokerConnection, IncomingMessage, OutgoingMessage, PublishError
from dueq.shared.topology import Topology
from tests.support.draining import DrainUntil


def _run(topology: Topology, n: int, routing_key: str = "default") -> OutgoingMessage:
    return OutgoingMessage(
        body=f'{{"n": {n}, "pad": "{"x" * 180}"}}'.encode(),
        exchange=topology.runs_exchange,
        routing_key=routing_key,
        message_id=f"run-{n}",
        type="dueq.run",
    )


def test_publish_many_returns_once_all_5000_are_confirmed_and_all_arrive(
    amqp_conn: BrokerConnection, topology: Topology, drain_until: DrainUntil
) -> None:
    amqp_conn.publisher().publish_many([_run(topology, n) for n in range(5000)])
    # Confirmed means enqueued: the count is complete the moment publish_many returns.
    assert amqp_conn.queue_depth(topology.run_queue("default")) == 5000
    seen: set[str | None] = set()

    def on_message(message: IncomingMessage) -> None:
        seen.add(message.message_id)
        consumer.ack(message.delivery_tag)

    consumer = amqp_conn.consumer(
        [topology.run_queue("default")], prefetch=500, on_message=on_message
    )
    consumer.start()
    drain_until(amqp_conn, lambda: len(seen) == 5000)
    assert seen == {f"run-{n}" for n in range(5000)}


def test_an_unroutable_message_is_a_publish_error_naming_it_and_the_rest_arrive(
    amqp_conn: BrokerConnection, topology: Topology
) -> None:
    lost = _run(topology, 2, routing_key="no-such-queue")
    batch = [_run(topology, 1), lost, _run(topology, 3)]
    with pytest.raises(PublishError, match=r"NO_ROUTE.*routing key 'no-such-queue'") as caught:
        amqp_conn.publisher().publish_many(batch)
    assert [f.message for f in caught.value.failures] == [lost]
    assert amqp_conn.queue_depth(topology.run_queue("default")) == 2


def test_a_missing_exchange_is_a_publish_error_and_the_publisher_carries_on(
    amqp_conn: BrokerConnection, topology: Topology
) -> None:
    publisher = amqp_conn.publisher()
    stray = OutgoingMessage(body=b"{}", exchange="dqt-no-such-exchange", routing_key="default")
    with pytest.raises(PublishError, match="NOT_FOUND"):
        publisher.publish(stray)
    publisher.publish_many([_run(topology, n) for n in range(3)])
    assert amqp_conn.queue_depth(topology.run_queue("default")) == 3


def test_publish_to_the_default_exchange_reaches_the_named_queue(
    amqp_conn: BrokerConnection, topology: Topology
) -> None:
    event = OutgoingMessage(body=b"{}", exchange="", routing_key=topology.events_queue)
    amqp_conn.publisher().publish(event)
    assert amqp_conn.queue_depth(topology.events_queue) == 1


def test_on_message_never_runs_inside_publish_many(
    amqp_conn: BrokerConnection, topology: Topology, drain_until: DrainUntil
) -> None:
    """Deliveries read while waiting for confirms wait for the next drain_events."""
    publisher = amqp_conn.publisher()
    publisher.publish_many([_run(topology, n) for n in range(50)])
    publishing = False
    calls_while_publishing = 0
    received: list[IncomingMessage] = []

    def on_message(message: IncomingMessage) -> None:
        nonlocal calls_while_publishing
        calls_while_publishing += publishing
        received.append(message)
        consumer.ack(message.delivery_tag)

    consumer = amqp_conn.consumer(
        [topology.run_queue("default")], prefetch=50, on_message=on_message
    )
    consumer.start()
    publishing = True
    events = OutgoingMessage(body=b"{}", exchange="", routing_key=topology.events_queue)
    publisher.publish_many([events] * 500)
    publishing = False
    drain_until(amqp_conn, lambda: len(received) == 50)
    assert calls_while_publishing == 0


def test_a_wakeup_nobody_listens_to_is_dropped_quietly_unless_mandatory(
    amqp_conn: BrokerConnection, topology: Topology
) -> None:
    control = topology.control_exchange
    publisher = amqp_conn.publisher()
    publisher.publish(
        OutgoingMessage(body=b"{}", exchange=control, routing_key="", mandatory=False)
    )
    with pytest.raises(PublishError, match="NO_ROUTE"):
        publisher.publish(OutgoingMessage(body=b"{}", exchange=control, routing_key=""))


def test_two_batches_in_flight_are_confirmed_in_order_each_with_its_own_failures(
    amqp_conn: BrokerConnection, topology: Topology
) -> None:
    publisher = amqp_conn.publisher()
    lost = _run(topology, 1002, routing_key="no-such-queue")
    first = publisher.send_many([_run(topology, n) for n in range(800)])
    second = publisher.send_many([_run(topology, 1000), _run(topology, 1001), lost])
    publisher.wait_confirmed(first)  # confirmed although the second is still in flight
    assert amqp_conn.queue_depth(topology.run_queue("default")) >= 800
    with pytest.raises(PublishError) as caught:
        publisher.wait_confirmed(second)
    assert [f.message for f in caught.value.failures] == [lost]
    assert caught.value.total == 3
    assert amqp_conn.queue_depth(topology.run_queue("default")) == 802


def test_a_batch_sent_before_its_channel_closed_fails_whole_when_waited_for(
    amqp_conn: BrokerConnection, topology: Topology
) -> None:
    publisher = amqp_conn.publisher()
    stray = OutgoingMessage(body=b"{}", exchange="dqt-no-such-exchange", routing_key="default")
    sent = publisher.send_many([stray])
    with pytest.raises(PublishError, match="NOT_FOUND"):
        publisher.wait_confirmed(sent)
    publisher.wait_confirmed(publisher.send_many([_run(topology, 1)]))  # a new channel
    assert amqp_conn.queue_depth(topology.run_queue("default")) == 1
