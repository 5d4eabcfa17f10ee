"""The dead-letter tools on kombu's memory transport, which ``dueq up`` uses."""

from __future__ import annotations

from dueq.producer.deadletters import DeadLetters
from dueq.shared.broker import (
    REASON_HEADER,
    SOURCE_QUEUE_HEADER,
    BrokerConnection,
    OutgoingMessage,
)
from dueq.shared.broker.dead_queue import BROWSE_BODY_BYTES
from dueq.shared.topology import QueueType, Topology


def _park(connection: BrokerConnection, topology: Topology, key: str) -> None:
    connection.publisher().publish(
        OutgoingMessage(
            body=b'{"job_id": "j"}',
            exchange=topology.dead_letter_exchange,
            routing_key="default",
            message_id=key,
            headers={
                REASON_HEADER: f"why {key}",
                SOURCE_QUEUE_HEADER: topology.run_queue("default"),
            },
        )
    )


def test_browse_leaves_the_queue_as_it_was_and_replay_moves_one_back(
    memory_broker_url: str,
) -> None:
    topology = Topology(prefix="dqm", queue_type=QueueType.CLASSIC)
    with BrokerConnection(memory_broker_url) as connection:
        connection.declare_topology(topology, ["default"])
        for key in ("a", "b"):
            _park(connection, topology, key)
        dead = DeadLetters(memory_broker_url, topology)

        first = [(v.key, v.reason, v.job_id) for v in dead.list()]
        again = [v.key for v in dead.list()]
        result = dead.replay(["b"])

        assert first == [("a", "why a", "j"), ("b", "why b", "j")]
        assert again == ["a", "b"]
        assert result.replayed == ["b"]
        assert [v.key for v in dead.list()] == ["a"]
        assert connection.queue_depth(topology.run_queue("default")) == 1
        assert dead.purge() == 1
        connection.delete_topology(topology, ["default"])


def test_a_huge_dead_letter_is_listed_by_its_start_and_replayed_whole(
    memory_broker_url: str,
) -> None:
    topology = Topology(prefix="dqm", queue_type=QueueType.CLASSIC)
    body = b"x" * (3 * 1024 * 1024)
    with BrokerConnection(memory_broker_url) as connection:
        connection.declare_topology(topology, ["default"])
        connection.publisher().publish(
            OutgoingMessage(
                body=body,
                exchange=topology.dead_letter_exchange,
                routing_key="default",
                headers={SOURCE_QUEUE_HEADER: topology.run_queue("default")},
            )
        )
        queue = connection.dead_letters(topology)

        (listed,) = queue.browse(10)
        result = queue.replay(None)
        replayed: list[bytes] = []
        consumer = connection.consumer(
            [topology.run_queue("default")],
            prefetch=1,
            on_message=lambda m: replayed.append(m.body),
        )
        consumer.start()
        while not replayed:
            connection.drain_events(0.05)
        consumer.close()

        assert listed.size == len(body)
        assert len(listed.body) == BROWSE_BODY_BYTES
        assert result.replayed == [listed.key]
        assert replayed == [body]
        connection.delete_topology(topology, ["default"])
