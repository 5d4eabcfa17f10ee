"""Consuming from RabbitMQ: prefetch, rejection, dead-lettering and redelivery."""

from __future__ import annotations

import pytest

from dueq.shared.broker import (
    DEAD_AT_HEADER,
    REASON_HEADER,
    SOURCE_QUEUE_HEADER,
    BrokerConnection,
    Consumer,
    DeliveryTagError,
    IncomingMessage,
    OutgoingMessage,
    dead_letter,
)
from dueq.shared.topology import QueueType, Topology
from tests.support.draining import DrainUntil


def _run(topology: Topology, n: int = 0) -> OutgoingMessage:
    return OutgoingMessage(
        body=f'{{"n": {n}}}'.encode(),
        exchange=topology.runs_exchange,
        routing_key="default",
        message_id=f"run-{n}",
        correlation_id=f"run-{n}",
        reply_to=topology.events_queue,
        type="dueq.run",
        headers={"x-trace": f"t{n}"},
        expiration_ms=600_000,
    )


def _consume(
    conn: BrokerConnection, queue: str, prefetch: int = 10
) -> tuple[Consumer, list[IncomingMessage]]:
    received: list[IncomingMessage] = []
    consumer = conn.consumer([queue], prefetch=prefetch, on_message=received.append)
    consumer.start()
    return consumer, received


def test_a_consumer_with_prefetch_n_holds_at_most_n_unacked(
    amqp_conn: BrokerConnection, topology: Topology, drain_until: DrainUntil
) -> None:
    amqp_conn.publisher().publish_many([_run(topology, n) for n in range(20)])
    consumer, received = _consume(amqp_conn, topology.run_queue("default"), prefetch=4)
    drain_until(amqp_conn, lambda: len(received) == 4)
    while amqp_conn.drain_events(timeout=0.3):
        pass  # nothing more may come while four are unacked
    assert len(received) == 4
    consumer.ack(received[0].delivery_tag)
    consumer.ack(received[1].delivery_tag)
    drain_until(amqp_conn, lambda: len(received) == 6)
    while amqp_conn.drain_events(timeout=0.3):
        pass
    assert len(received) == 6


def test_a_delivery_carries_the_published_properties(
    amqp_conn: BrokerConnection, topology: Topology, drain_until: DrainUntil
) -> None:
    amqp_conn.publisher().publish(_run(topology, 7))
    _, received = _consume(amqp_conn, topology.run_queue("default"))
    drain_until(amqp_conn, lambda: len(received) == 1)
    got = received[0]
    assert (got.body, got.message_id, got.correlation_id) == (b'{"n": 7}', "run-7", "run-7")
    assert (got.reply_to, got.type) == (topology.events_queue, "dueq.run")
    assert (got.content_type, got.headers["x-trace"]) == ("application/json", "t7")
    assert (got.exchange, got.routing_key, got.redelivered) == (
        topology.runs_exchange,
        "default",
        False,
    )


@pytest.mark.parametrize("queue_type", list(QueueType))
def test_reject_without_requeue_lands_in_the_dead_queue(
    rabbitmq_url: str, queue_type: QueueType, drain_until: DrainUntil, no_leaks: None
) -> None:
    topology = Topology(
        prefix=f"dqt-reject-{queue_type.value}-{id(queue_type):x}", queue_type=queue_type
    )
    with BrokerConnection(rabbitmq_url) as conn:
        conn.declare_topology(topology)
        try:
            conn.publisher().publish(_run(topology, 1))
            consumer, received = _consume(conn, topology.run_queue("default"))
            drain_until(conn, lambda: len(received) == 1)
            consumer.reject(received[0].delivery_tag, requeue=False)
            _, dead = _consume(conn, topology.dead_letter_queue)
            drain_until(conn, lambda: len(dead) == 1)
            assert (dead[0].body, dead[0].message_id) == (b'{"n": 1}', "run-1")
            assert dead[0].headers["x-first-death-reason"] == "rejected"
            consumer.close()
        finally:
            conn.delete_topology(topology)


def test_dead_letter_carries_the_reason_and_the_original_message(
    amqp_conn: BrokerConnection, topology: Topology, drain_until: DrainUntil
) -> None:
    publisher = amqp_conn.publisher()
    publisher.publish(_run(topology, 3))
    queue = topology.run_queue("default")
    consumer, received = _consume(amqp_conn, queue)
    drain_until(amqp_conn, lambda: len(received) == 1)
    reason = "ProtocolError: field 'func'\n  unknown function 'evil:run'"
    dead_letter(publisher, topology, received[0], reason=reason, source_queue=queue)
    consumer.ack(received[0].delivery_tag)
    _, dead = _consume(amqp_conn, topology.dead_letter_queue)
    drain_until(amqp_conn, lambda: len(dead) == 1)
    got, original = dead[0], received[0]
    assert got.headers[REASON_HEADER] == "ProtocolError: field 'func' unknown function 'evil:run'"
    assert got.headers[SOURCE_QUEUE_HEADER] == queue
    assert got.headers[DEAD_AT_HEADER].endswith("Z")
    assert got.headers["x-trace"] == "t3"
    same = ("body", "message_id", "correlation_id", "reply_to", "type", "content_type")
    assert [getattr(got, f) for f in same] == [getattr(original, f) for f in same]
    assert amqp_conn.queue_depth(queue) == 0


def test_unacked_deliveries_come_again_flagged_after_their_connection_closes(
    rabbitmq_url: str, amqp_conn: BrokerConnection, topology: Topology, drain_until: DrainUntil
) -> None:
    amqp_conn.publisher().publish_many([_run(topology, n) for n in range(3)])
    with BrokerConnection(rabbitmq_url) as doomed:
        _, first = _consume(doomed, topology.run_queue("default"))
        drain_until(doomed, lambda: len(first) == 3)
        assert not any(m.redelivered for m in first)
    _, again = _consume(amqp_conn, topology.run_queue("default"))
    drain_until(amqp_conn, lambda: len(again) == 3)
    assert all(m.redelivered for m in again)
    assert [m.delivery_count for m in again] == [1, 1, 1]  # quorum queues count deliveries
    assert sorted(m.message_id or "" for m in again) == ["run-0", "run-1", "run-2"]


def test_reject_with_requeue_delivers_again(
    amqp_conn: BrokerConnection, topology: Topology, drain_until: DrainUntil
) -> None:
    amqp_conn.publisher().publish(_run(topology))
    consumer, received = _consume(amqp_conn, topology.run_queue("default"))
    drain_until(amqp_conn, lambda: len(received) == 1)
    consumer.reject(received[0].delivery_tag, requeue=True)
    drain_until(amqp_conn, lambda: len(received) == 2)
    assert received[1].redelivered
    assert received[1].message_id == received[0].message_id


def test_cancel_stops_new_deliveries_and_handed_out_ones_stay_ackable(
    amqp_conn: BrokerConnection, topology: Topology, drain_until: DrainUntil
) -> None:
    amqp_conn.publisher().publish(_run(topology, 1))
    consumer, received = _consume(amqp_conn, topology.run_queue("default"))
    drain_until(amqp_conn, lambda: len(received) == 1)
    consumer.cancel()
    amqp_conn.publisher().publish(_run(topology, 2))
    while amqp_conn.drain_events(timeout=0.3):
        pass
    assert len(received) == 1
    consumer.ack(received[0].delivery_tag)
    assert amqp_conn.queue_depth(topology.run_queue("default")) == 1


def test_ack_many_acks_exactly_the_given_deliveries_even_with_gaps(
    amqp_conn: BrokerConnection, topology: Topology, drain_until: DrainUntil
) -> None:
    amqp_conn.publisher().publish_many([_run(topology, n) for n in range(6)])
    queue = topology.run_queue("default")
    consumer, received = _consume(amqp_conn, queue)
    drain_until(amqp_conn, lambda: len(received) == 6)
    by_id = {m.message_id: m.delivery_tag for m in received}
    # run-2 stays unacked: the one multiple-ack frame may cover run-0 and run-1 only.
    consumer.ack_many([by_id["run-0"], by_id["run-1"], by_id["run-3"], by_id["run-5"]])
    assert consumer.unacked == 2
    with pytest.raises(DeliveryTagError):
        consumer.ack_many([by_id["run-4"], by_id["run-0"]])  # run-0 was acked already
    assert consumer.unacked == 1  # run-4 was acked all the same
    amqp_conn.close()  # what was not acked goes back to the queue
    amqp_conn.connect()
    _, again = _consume(amqp_conn, queue)
    drain_until(amqp_conn, lambda: len(again) == 1)
    while amqp_conn.drain_events(timeout=0.3):
        pass
    assert [m.message_id for m in again] == ["run-2"]
    assert again[0].redelivered


def test_a_burst_of_deliveries_is_handed_out_without_a_read_per_delivery(
    amqp_conn: BrokerConnection, topology: Topology
) -> None:
    # Read ahead: one drain takes every whole delivery a socket read brought, where
    # py-amqp alone hands out one method (one delivery) per drain.
    count = 300
    amqp_conn.publisher().publish_many([_run(topology, n) for n in range(count)])
    queue = topology.run_queue("default")
    while amqp_conn.queue_depth(queue) < count:
        amqp_conn.drain_events(timeout=0.05)
    consumer, received = _consume(amqp_conn, queue, prefetch=count)
    drains = 0
    while len(received) < count and drains < count:
        amqp_conn.drain_events(timeout=5.0)
        drains += 1
    assert [m.message_id for m in received] == [f"run-{n}" for n in range(count)]
    assert drains <= count // 10, drains
    consumer.ack_many(m.delivery_tag for m in received)


def test_bodies_larger_than_a_frame_and_a_read_arrive_whole_between_small_ones(
    amqp_conn: BrokerConnection, topology: Topology, drain_until: DrainUntil
) -> None:
    sizes = [10, 300_000, 5, 70_000, 1]  # frame_max is 128 KiB; a socket read 64 KiB
    bodies = [bytes([65 + i]) * size for i, size in enumerate(sizes)]
    amqp_conn.publisher().publish_many(
        [
            OutgoingMessage(body=body, exchange=topology.runs_exchange, routing_key="default")
            for body in bodies
        ]
    )
    consumer, received = _consume(amqp_conn, topology.run_queue("default"), prefetch=10)
    drain_until(amqp_conn, lambda: len(received) == len(bodies))
    assert [m.body for m in received] == bodies
    consumer.ack_many(m.delivery_tag for m in received)
