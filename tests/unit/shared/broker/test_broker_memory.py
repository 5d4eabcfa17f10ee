"""The adapter on memory:// behaves like it does on RabbitMQ where dueq relies on it."""

from __future__ import annotations

import threading

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
    PublishError,
    TopologyError,
    dead_letter,
)
from dueq.shared.errors import BrokerUnavailable
from dueq.shared.topology import Topology
from tests.support.draining import DrainUntil


def _run(topology: Topology, n: int = 0, **kwargs: object) -> OutgoingMessage:
    return OutgoingMessage(
        body=f'{{"n": {n}}}'.encode(),
        exchange=topology.runs_exchange,
        routing_key="default",
        **kwargs,  # type: ignore[arg-type]  # tests pass only OutgoingMessage fields
    )


def _consume(
    conn: BrokerConnection, queue: str, prefetch: int = 10
) -> tuple[Consumer, list[IncomingMessage]]:
    received: list[IncomingMessage] = []
    consumer = conn.consumer([queue], prefetch=prefetch, on_message=received.append)
    consumer.start()
    return consumer, received


def test_a_published_message_arrives_with_its_body_and_properties(
    memory_conn: BrokerConnection, memory_topology: Topology, drain_until: DrainUntil
) -> None:
    sent = _run(
        memory_topology,
        message_id="run-1",
        correlation_id="run-1",
        reply_to=memory_topology.events_queue,
        type="dueq.run",
        headers={"x-trace": "abc"},
    )
    memory_conn.publisher().publish(sent)
    _, received = _consume(memory_conn, memory_topology.run_queue("default"))
    drain_until(memory_conn, lambda: len(received) == 1)
    got = received[0]
    assert (got.body, got.message_id, got.correlation_id) == (sent.body, "run-1", "run-1")
    assert (got.reply_to, got.type, got.content_type) == (
        memory_topology.events_queue,
        "dueq.run",
        "application/json",
    )
    assert got.headers["x-trace"] == "abc"
    assert (got.exchange, got.routing_key) == (memory_topology.runs_exchange, "default")
    assert (got.redelivered, got.delivery_count) == (False, None)


def test_declare_topology_can_run_again(
    memory_conn: BrokerConnection, memory_topology: Topology
) -> None:
    memory_conn.declare_topology(memory_topology)
    memory_conn.declare_topology(memory_topology)
    assert memory_conn.queue_depth(memory_topology.run_queue("default")) == 0


def test_an_unroutable_message_fails_alone_and_the_rest_are_delivered(
    memory_conn: BrokerConnection, memory_topology: Topology
) -> None:
    lost = OutgoingMessage(body=b"{}", exchange=memory_topology.runs_exchange, routing_key="nope")
    batch = [_run(memory_topology, 1), lost, _run(memory_topology, 2)]
    with pytest.raises(PublishError, match="routing key 'nope'") as caught:
        memory_conn.publisher().publish_many(batch)
    assert [f.message for f in caught.value.failures] == [lost]
    assert memory_conn.queue_depth(memory_topology.run_queue("default")) == 2


@pytest.mark.parametrize(
    ("exchange", "routing_key", "reason"),
    [("no-such-exchange", "default", "NOT_FOUND"), ("", "no-such-queue", "NO_ROUTE")],
)
def test_a_missing_exchange_or_queue_is_a_publish_error(
    memory_conn: BrokerConnection, exchange: str, routing_key: str, reason: str
) -> None:
    message = OutgoingMessage(body=b"{}", exchange=exchange, routing_key=routing_key)
    with pytest.raises(PublishError, match=reason):
        memory_conn.publisher().publish(message)


def test_the_default_exchange_routes_by_queue_name(
    memory_conn: BrokerConnection, memory_topology: Topology
) -> None:
    events = memory_topology.events_queue
    memory_conn.publisher().publish(OutgoingMessage(body=b"{}", exchange="", routing_key=events))
    assert memory_conn.queue_depth(events) == 1


def test_a_consumer_holds_at_most_prefetch_unacked_deliveries(
    memory_conn: BrokerConnection, memory_topology: Topology, drain_until: DrainUntil
) -> None:
    memory_conn.publisher().publish_many([_run(memory_topology, n) for n in range(10)])
    consumer, received = _consume(memory_conn, memory_topology.run_queue("default"), prefetch=3)
    drain_until(memory_conn, lambda: len(received) == 3)
    assert not memory_conn.drain_events(timeout=0.1)
    assert consumer.unacked == 3
    consumer.ack(received[0].delivery_tag)
    drain_until(memory_conn, lambda: len(received) == 4)
    assert not memory_conn.drain_events(timeout=0.1)


def test_acking_twice_is_refused_without_touching_the_broker(
    memory_conn: BrokerConnection, memory_topology: Topology, drain_until: DrainUntil
) -> None:
    memory_conn.publisher().publish(_run(memory_topology))
    consumer, received = _consume(memory_conn, memory_topology.run_queue("default"))
    drain_until(memory_conn, lambda: len(received) == 1)
    consumer.ack(received[0].delivery_tag)
    with pytest.raises(DeliveryTagError, match="already acked"):
        consumer.ack(received[0].delivery_tag)


def test_ack_many_acks_the_given_deliveries_and_reports_unknown_tags(
    memory_conn: BrokerConnection, memory_topology: Topology, drain_until: DrainUntil
) -> None:
    memory_conn.publisher().publish_many([_run(memory_topology, n) for n in range(3)])
    consumer, received = _consume(memory_conn, memory_topology.run_queue("default"))
    drain_until(memory_conn, lambda: len(received) == 3)
    first, second, third = (m.delivery_tag for m in received)
    consumer.ack_many([first, third])
    assert consumer.unacked == 1
    with pytest.raises(DeliveryTagError, match="already acked"):
        consumer.ack_many([second, first])
    assert consumer.unacked == 0  # the valid tag was acked all the same
    memory_conn.close()  # nothing unacked is left to come back
    memory_conn.connect()
    _, again = _consume(memory_conn, memory_topology.run_queue("default"))
    assert not memory_conn.drain_events(timeout=0.1)
    assert again == []


def test_reject_without_requeue_dead_letters_through_the_queues_dlx(
    memory_conn: BrokerConnection, memory_topology: Topology, drain_until: DrainUntil
) -> None:
    memory_conn.publisher().publish(_run(memory_topology, message_id="poison"))
    consumer, received = _consume(memory_conn, memory_topology.run_queue("default"))
    drain_until(memory_conn, lambda: len(received) == 1)
    consumer.reject(received[0].delivery_tag, requeue=False)
    _, dead = _consume(memory_conn, memory_topology.dead_letter_queue)
    drain_until(memory_conn, lambda: len(dead) == 1)
    assert dead[0].message_id == "poison"
    assert dead[0].headers["x-first-death-reason"] == "rejected"
    assert dead[0].headers["x-death"][0]["queue"] == memory_topology.run_queue("default")


def test_reject_with_requeue_delivers_again_flagged_redelivered(
    memory_conn: BrokerConnection, memory_topology: Topology, drain_until: DrainUntil
) -> None:
    memory_conn.publisher().publish(_run(memory_topology))
    consumer, received = _consume(memory_conn, memory_topology.run_queue("default"))
    drain_until(memory_conn, lambda: len(received) == 1)
    consumer.reject(received[0].delivery_tag, requeue=True)
    drain_until(memory_conn, lambda: len(received) == 2)
    assert received[1].redelivered
    assert received[1].body == received[0].body


def test_closing_the_connection_gives_unacked_deliveries_back(
    memory_broker_url: str,
    memory_conn: BrokerConnection,
    memory_topology: Topology,
    drain_until: DrainUntil,
) -> None:
    memory_conn.publisher().publish_many([_run(memory_topology, n) for n in range(2)])
    with BrokerConnection(memory_broker_url) as other:
        _, first = _consume(other, memory_topology.run_queue("default"))
        drain_until(other, lambda: len(first) == 2)
    _, again = _consume(memory_conn, memory_topology.run_queue("default"))
    drain_until(memory_conn, lambda: len(again) == 2)
    assert all(m.redelivered for m in again)


def test_dead_letter_keeps_the_message_and_adds_the_reason(
    memory_conn: BrokerConnection, memory_topology: Topology, drain_until: DrainUntil
) -> None:
    publisher = memory_conn.publisher()
    publisher.publish(_run(memory_topology, message_id="r1", type="dueq.run"))
    queue = memory_topology.run_queue("default")
    consumer, received = _consume(memory_conn, queue)
    drain_until(memory_conn, lambda: len(received) == 1)
    reason = "ProtocolError: bad payload\nline 2 " + "x" * 2000
    dead_letter(publisher, memory_topology, received[0], reason=reason, source_queue=queue)
    consumer.ack(received[0].delivery_tag)
    _, dead = _consume(memory_conn, memory_topology.dead_letter_queue)
    drain_until(memory_conn, lambda: len(dead) == 1)
    got = dead[0]
    assert (got.body, got.message_id, got.type) == (received[0].body, "r1", "dueq.run")
    assert got.headers[REASON_HEADER].startswith("ProtocolError: bad payload line 2 xx")
    assert len(got.headers[REASON_HEADER]) == 1000
    assert got.headers[SOURCE_QUEUE_HEADER] == queue
    assert got.headers[DEAD_AT_HEADER].endswith("Z")
    assert memory_conn.queue_depth(queue) == 0


def test_cancel_stops_deliveries_and_keeps_handed_out_ones_ackable(
    memory_conn: BrokerConnection, memory_topology: Topology, drain_until: DrainUntil
) -> None:
    memory_conn.publisher().publish(_run(memory_topology, 1))
    consumer, received = _consume(memory_conn, memory_topology.run_queue("default"))
    drain_until(memory_conn, lambda: len(received) == 1)
    consumer.cancel()
    memory_conn.publisher().publish(_run(memory_topology, 2))
    assert not memory_conn.drain_events(timeout=0.1)
    consumer.ack(received[0].delivery_tag)
    assert memory_conn.queue_depth(memory_topology.run_queue("default")) == 1


def test_a_consumer_of_a_missing_queue_is_a_topology_error(memory_conn: BrokerConnection) -> None:
    consumer = memory_conn.consumer(["dqt-no-such-queue"], prefetch=1, on_message=print)
    with pytest.raises(TopologyError, match="NOT_FOUND"):
        consumer.start()


def test_using_a_connection_before_connect_or_after_close_is_broker_unavailable(
    memory_broker_url: str, memory_topology: Topology
) -> None:
    conn = BrokerConnection(memory_broker_url)
    with pytest.raises(BrokerUnavailable, match="not connected"):
        conn.declare_topology(memory_topology)
    conn.connect()
    publisher = conn.publisher()
    conn.close()
    with pytest.raises(BrokerUnavailable):
        publisher.publish(_run(memory_topology))
    with pytest.raises(BrokerUnavailable):
        conn.drain_events(timeout=0)


def test_a_consumer_of_a_closed_connection_cannot_ack(
    memory_broker_url: str, memory_topology: Topology, drain_until: DrainUntil
) -> None:
    with BrokerConnection(memory_broker_url) as conn:
        conn.declare_topology(memory_topology)
        conn.publisher().publish(_run(memory_topology))
        consumer, received = _consume(conn, memory_topology.run_queue("default"))
        drain_until(conn, lambda: len(received) == 1)
        conn.close()
        conn.connect()
        with pytest.raises(BrokerUnavailable, match="closed"):
            consumer.ack(received[0].delivery_tag)
        # The delivery went back to the queue and a new consumer gets it.
        _, again = _consume(conn, memory_topology.run_queue("default"))
        drain_until(conn, lambda: len(again) == 1)
        conn.delete_topology(memory_topology)


def test_control_queues_each_get_every_wakeup(
    memory_conn: BrokerConnection, memory_topology: Topology, drain_until: DrainUntil
) -> None:
    first = memory_conn.declare_control_queue(memory_topology)
    second = memory_conn.declare_control_queue(memory_topology)
    assert first != second
    wakeup = OutgoingMessage(body=b"{}", exchange=memory_topology.control_exchange, routing_key="")
    memory_conn.publisher().publish(wakeup)
    assert memory_conn.queue_depth(first) == memory_conn.queue_depth(second) == 1


def test_two_connections_in_two_threads_share_the_in_memory_broker(
    memory_broker_url: str,
    memory_conn: BrokerConnection,
    memory_topology: Topology,
    drain_until: DrainUntil,
) -> None:
    """The embedded mode: scheduler and worker threads, a connection each, one process."""
    received: list[IncomingMessage] = []
    subscribed = threading.Event()
    stop = threading.Event()

    def worker() -> None:
        def on_message(message: IncomingMessage) -> None:
            received.append(message)
            consumer.ack(message.delivery_tag)

        with BrokerConnection(memory_broker_url) as conn:
            consumer = conn.consumer(
                [memory_topology.run_queue("default")], prefetch=5, on_message=on_message
            )
            consumer.start()
            subscribed.set()
            while not stop.is_set():
                conn.drain_events(timeout=0.05)

    thread = threading.Thread(target=worker, name="memory-worker")
    thread.start()
    try:
        assert subscribed.wait(timeout=10)
        memory_conn.publisher().publish_many([_run(memory_topology, n) for n in range(50)])
        drain_until(memory_conn, lambda: len(received) == 50)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert sorted(m.body for m in received) == sorted(f'{{"n": {n}}}'.encode() for n in range(50))


def test_call_soon_runs_work_from_other_threads_in_the_connection_thread(
    memory_conn: BrokerConnection, drain_until: DrainUntil
) -> None:
    ran_in: list[str] = []
    thread = threading.Thread(
        target=lambda: memory_conn.call_soon(lambda: ran_in.append(threading.current_thread().name))
    )
    thread.start()
    thread.join()
    drain_until(memory_conn, lambda: bool(ran_in))
    assert ran_in == [threading.current_thread().name]


def test_a_wakeup_nobody_listens_to_is_dropped_quietly_unless_mandatory(
    memory_conn: BrokerConnection, memory_topology: Topology
) -> None:
    control = memory_topology.control_exchange
    publisher = memory_conn.publisher()
    publisher.publish(
        OutgoingMessage(body=b"{}", exchange=control, routing_key="", mandatory=False)
    )
    with pytest.raises(PublishError, match="NO_ROUTE"):
        publisher.publish(OutgoingMessage(body=b"{}", exchange=control, routing_key=""))
    quiet = OutgoingMessage(body=b"{}", exchange="", routing_key="dqt-nobody", mandatory=False)
    publisher.publish(quiet)
    with pytest.raises(TopologyError):
        memory_conn.queue_depth("dqt-nobody")  # not created by the publish, as on RabbitMQ
