"""Broker failures surface as BrokerUnavailable (password redacted), and recovery works."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

import pytest

from dueq.shared.broker import BrokerConnection, IncomingMessage, OutgoingMessage
from dueq.shared.errors import BrokerUnavailable
from dueq.shared.redact import redact_url
from dueq.shared.topology import Topology
from tests.faults.faults_proxy import TcpProxy
from tests.faults.faults_rig import closed_port
from tests.support.draining import DrainUntil

ForceClose = Callable[[str], int]


def _with(url: str, *, port: int | None = None, password: str | None = None) -> str:
    parts = urlsplit(url)
    user = parts.username or "guest"
    netloc = f"{user}:{password or parts.password}@{parts.hostname}:{port or parts.port or 5672}"
    return urlunsplit(parts._replace(netloc=netloc))


def _run(topology: Topology, n: int = 0) -> OutgoingMessage:
    return OutgoingMessage(
        body=f'{{"n": {n}}}'.encode(),
        exchange=topology.runs_exchange,
        routing_key="default",
        message_id=f"run-{n}",
    )


def _drain_forever(conn: BrokerConnection) -> None:
    while True:
        conn.drain_events(timeout=1)


def test_a_wrong_port_is_broker_unavailable_naming_host_and_port(
    rabbitmq_url: str, no_leaks: None
) -> None:
    url = _with(rabbitmq_url, port=1, password="Pa55-w0rd-xyz")
    with pytest.raises(BrokerUnavailable) as caught:
        BrokerConnection(url, connect_timeout=2).connect()
    text = str(caught.value)
    host = urlsplit(url).hostname or ""
    assert f"{host}:1" in text
    assert "Pa55-w0rd-xyz" not in text
    assert "Pa55-w0rd-xyz" not in repr(caught.value)


def test_a_wrong_password_is_broker_unavailable_without_the_password(
    rabbitmq_url: str, no_leaks: None
) -> None:
    url = _with(rabbitmq_url, password="not-the-Pa55word")
    with pytest.raises(BrokerUnavailable, match="ACCESS_REFUSED") as caught:
        BrokerConnection(url).connect()
    parts = urlsplit(rabbitmq_url)
    assert f"{parts.hostname}:{parts.port or 5672}" in str(caught.value)
    assert "not-the-Pa55word" not in str(caught.value)
    assert "not-the-Pa55word" not in caught.value.url


def test_after_a_forced_close_publish_and_ack_raise_broker_unavailable_and_reconnect_recovers(
    rabbitmq_url: str,
    topology: Topology,
    force_close: ForceClose,
    drain_until: DrainUntil,
    no_leaks: None,
) -> None:
    name = f"{topology.prefix}-victim"
    with BrokerConnection(rabbitmq_url, name=name) as conn:
        conn.declare_topology(topology)
        publisher = conn.publisher()
        publisher.publish_many([_run(topology, n) for n in range(2)])
        received: list[IncomingMessage] = []
        consumer = conn.consumer(
            [topology.run_queue("default")], prefetch=5, on_message=received.append
        )
        consumer.start()
        drain_until(conn, lambda: len(received) == 2)

        assert force_close(name) == 1
        with pytest.raises(BrokerUnavailable, match="publish"):
            publisher.publish(_run(topology, 2))
        with pytest.raises(BrokerUnavailable):
            consumer.ack(received[0].delivery_tag)
        assert not conn.connected

        conn.connect()
        publisher.publish(_run(topology, 2))  # the same publisher carries on
        again: list[IncomingMessage] = []
        fresh = conn.consumer([topology.run_queue("default")], prefetch=5, on_message=again.append)
        fresh.start()
        drain_until(conn, lambda: len(again) == 3)
        assert sorted((m.message_id, m.redelivered) for m in again) == [
            ("run-0", True),
            ("run-1", True),
            ("run-2", False),
        ]
        fresh.close()
        conn.delete_topology(topology)


def test_a_forced_close_while_waiting_for_frames_is_broker_unavailable(
    rabbitmq_url: str, topology: Topology, force_close: ForceClose, no_leaks: None
) -> None:
    name = f"{topology.prefix}-idle"
    with BrokerConnection(rabbitmq_url, name=name) as conn:
        assert force_close(name) == 1
        with pytest.raises(BrokerUnavailable, match="CONNECTION_FORCED"):
            _drain_forever(conn)
        assert not conn.connected


def test_a_deleted_queue_ends_its_consumer_with_broker_unavailable(
    amqp_conn: BrokerConnection, topology: Topology, drain_until: DrainUntil
) -> None:
    amqp_conn.consumer([topology.events_queue], prefetch=1, on_message=print).start()
    amqp_conn.delete_queues([topology.events_queue])
    with pytest.raises(BrokerUnavailable, match="cancelled the consumer"):
        drain_until(amqp_conn, lambda: False)
    amqp_conn.connect()
    amqp_conn.declare_topology(topology)
    assert amqp_conn.queue_depth(topology.events_queue) == 0


def test_heartbeats_keep_an_idle_connection_alive_through_a_long_wait(
    rabbitmq_url: str, topology: Topology, no_leaks: None
) -> None:
    # With a 1 s heartbeat RabbitMQ drops a client silent for about 2-3 s.
    with BrokerConnection(rabbitmq_url, heartbeat=1) as conn:
        assert conn.drain_events(timeout=3.5) is False
        conn.declare_topology(topology)
        conn.publisher().publish(_run(topology))
        assert conn.queue_depth(topology.run_queue("default")) == 1
        conn.delete_topology(topology)


def test_a_failover_url_connects_to_a_live_node_and_reconnects_to_another_when_it_dies(
    rabbitmq_url: str,
) -> None:
    dead = _with(rabbitmq_url, port=closed_port(), password="Pa55-dead-node")
    parts = urlsplit(rabbitmq_url)
    node_a = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5672, name="node-a").start()
    conn = BrokerConnection(f"{dead};{node_a.url_for(rabbitmq_url)};{rabbitmq_url}")
    try:
        conn.connect()  # the dead node is skipped
        assert f":{node_a.port}/" in conn.node_redacted
        node_a.cut()  # node a dies: its connections drop, new ones are refused
        with pytest.raises(BrokerUnavailable) as lost:
            _drain_forever(conn)
        conn.connect()  # starts with the node after a: live
        assert conn.node_redacted == redact_url(rabbitmq_url)
        conn.drain_events(timeout=0.01)
    finally:
        conn.close()
        node_a.close()
    assert "Pa55-dead-node" not in f"{lost.value} {conn!r} {conn.url_redacted}"
