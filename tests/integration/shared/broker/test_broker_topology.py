"""Declaring dueq's layout on RabbitMQ: idempotent, quorum queues, dead-lettering."""

from __future__ import annotations

from collections.abc import Callable

import pika
import pytest

from dueq.shared.broker import BrokerConnection, IncomingMessage, OutgoingMessage, TopologyError
from dueq.shared.topology import QueueType, Topology
from tests.faults.faults_tap import pika_url
from tests.support.waiting import wait_until


def test_declare_topology_is_idempotent_and_makes_quorum_queues_that_dead_letter(
    amqp_conn: BrokerConnection, topology: Topology, list_queues: Callable[[], str]
) -> None:
    amqp_conn.declare_topology(topology)
    amqp_conn.declare_topology(topology, ["default"])
    rows = {
        line.split("\t")[0]: line.split("\t")[1:]
        for line in list_queues().splitlines()
        if line.startswith(f"{topology.prefix}.")
    }
    run_queue = topology.run_queue("default")
    assert set(rows) == {run_queue, topology.events_queue, topology.dead_letter_queue}
    assert all(kind == "quorum" for kind, _ in rows.values())
    run_arguments = rows[run_queue][1]
    assert f'{{"x-dead-letter-exchange","{topology.dead_letter_exchange}"}}' in run_arguments
    assert '{"x-delivery-limit",20}' in run_arguments


def test_a_queue_type_change_is_a_topology_error_that_spares_the_connection(
    amqp_conn: BrokerConnection, topology: Topology
) -> None:
    classic = Topology(prefix=topology.prefix, queue_type=QueueType.CLASSIC)
    with pytest.raises(TopologyError, match="x-queue-type"):
        amqp_conn.declare_topology(classic)
    amqp_conn.publisher().publish(
        OutgoingMessage(body=b"{}", exchange=topology.runs_exchange, routing_key="default")
    )
    assert amqp_conn.queue_depth(topology.run_queue("default")) == 1


def test_the_depth_of_a_missing_queue_is_a_topology_error(amqp_conn: BrokerConnection) -> None:
    with pytest.raises(TopologyError, match="NOT_FOUND"):
        amqp_conn.queue_depth("dqt-no-such-queue")
    assert amqp_conn.connected


def test_a_control_queue_gets_wakeups_and_goes_away_with_its_connection(
    rabbitmq_url: str, amqp_conn: BrokerConnection, topology: Topology
) -> None:
    with BrokerConnection(rabbitmq_url) as scheduler:
        control = scheduler.declare_control_queue(topology)
        amqp_conn.publisher().publish(
            OutgoingMessage(body=b"{}", exchange=topology.control_exchange, routing_key="")
        )
        assert scheduler.queue_depth(control) == 1
    with pytest.raises(TopologyError, match="NOT_FOUND"):
        amqp_conn.queue_depth(control)


def test_a_control_message_whose_routing_key_is_not_utf8_is_delivered_escaped(
    rabbitmq_url: str, topology: Topology
) -> None:
    # A fanout exchange takes any routing key, and RabbitMQ passes bytes that are not UTF-8
    # through: py-amqp raised decoding them, losing the delivery (never acked) and dropping
    # the scheduler's connection.
    with BrokerConnection(rabbitmq_url) as scheduler:
        control = scheduler.declare_control_queue(topology)
        received: list[IncomingMessage] = []
        consumer = scheduler.consumer([control], prefetch=10, on_message=received.append)
        consumer.start()
        hostile = pika.BlockingConnection(pika.URLParameters(pika_url(rabbitmq_url)))
        try:
            channel = hostile.channel()
            channel.confirm_delivery()
            for key in (b"rk-\xff", b"plain"):
                channel.basic_publish(topology.control_exchange, key, b"{}")
        finally:
            hostile.close()

        def both_received() -> bool:
            scheduler.drain_events(0.1)
            return len(received) == 2

        wait_until(both_received, "both wakeups", timeout=10)
        assert [m.routing_key for m in received] == [r"rk-\xff", "plain"]
        consumer.ack_many([m.delivery_tag for m in received])
        assert scheduler.connected
        assert scheduler.queue_depth(control) == 0
