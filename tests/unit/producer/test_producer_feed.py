"""The listener feed: outcomes on the listeners exchange reach this scheduler's listeners once."""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from dueq.producer.feed import ListenerFeed, outcome_messages
from dueq.producer.listeners import (
    EVENT_JOB_EXECUTED,
    EVENT_SCHEDULER_STARTED,
    ListenerDispatcher,
    SchedulerEvent,
)
from dueq.shared.broker import BrokerConnection, IncomingMessage, OutgoingMessage
from dueq.shared.protocol import JobExecuted, JobStarted, decode_event, encode, make_run_id
from dueq.shared.topology import Topology
from tests.support.waiting import wait_until

T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)
ABOUT: dict[str, Any] = {
    "worker_id": "w", "hostname": "h", "pid": 1, "emitted_at": T0, "job_id": "j",
    "run_id": make_run_id("j", T0), "scheduled_at": T0, "lateness_s": 0.0,
}  # fmt: skip
EXECUTED = JobExecuted(**ABOUT, started_at=T0, finished_at=T0, duration_s=0.1, retval=7)
STARTED = JobStarted(**ABOUT, started_at=T0)


@pytest.fixture
def topology() -> Topology:
    return Topology(prefix=f"dqt-{uuid.uuid4().hex[:10]}")


@pytest.fixture
def heard(memory_broker_url: str, topology: Topology) -> Iterator[queue.Queue[SchedulerEvent]]:
    """A running feed whose listener puts what it hears here."""
    events: queue.Queue[SchedulerEvent] = queue.Queue()
    dispatcher = ListenerDispatcher()
    dispatcher.add_listener(events.put)
    stopping = threading.Event()
    feed = ListenerFeed(
        broker_url=memory_broker_url, topology=topology, dispatcher=dispatcher, stopping=stopping
    )
    thread = threading.Thread(target=feed.run, name="dueq-test-feed")
    thread.start()
    try:
        wait_until(feed.ready.is_set, "feed ready", timeout=10)
        yield events
    finally:
        stopping.set()
        thread.join(10)
        dispatcher.close()


def _publish(url: str, messages: list[OutgoingMessage]) -> None:
    with BrokerConnection(url) as connection:
        connection.publisher().publish_many(messages)


def test_only_outcomes_are_passed_on() -> None:
    messages = outcome_messages(Topology(prefix="p"), [(STARTED, b"s"), (EXECUTED, b"e")])
    assert [(m.body, m.exchange) for m in messages] == [(b"e", "p.listeners")]


def test_an_outcome_published_twice_is_heard_once(
    heard: queue.Queue[SchedulerEvent], memory_broker_url: str, topology: Topology
) -> None:
    body = encode(EXECUTED)
    malformed = OutgoingMessage(
        body=b"not json", exchange=topology.listeners_exchange, routing_key="", mandatory=False
    )
    twice = outcome_messages(topology, [(EXECUTED, body), (EXECUTED, body)])
    _publish(memory_broker_url, [twice[0], malformed, twice[1]])
    event = heard.get(timeout=10)
    assert event.code == EVENT_JOB_EXECUTED
    assert getattr(event, "retval", None) == 7
    marker = JobExecuted(**{**ABOUT, "run_id": make_run_id("j", datetime(2025, 1, 1, tzinfo=UTC))},
                         started_at=T0, finished_at=T0, duration_s=0.1, retval="end")  # fmt: skip
    _publish(memory_broker_url, outcome_messages(topology, [(marker, encode(marker))]))
    assert getattr(heard.get(timeout=10), "retval", None) == "end"  # nothing came in between


def _delivery(body: bytes, tag: int) -> IncomingMessage:
    return IncomingMessage(
        body=body, delivery_tag=tag, redelivered=False, routing_key="", exchange="p.listeners",
        message_id=None, correlation_id=None, reply_to=None, type="dueq.outcome",
        content_type="application/json", headers={}, delivery_count=None,
    )  # fmt: skip


def test_outcomes_are_not_even_decoded_while_no_listener_takes_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decoded: list[bytes] = []

    def spy(body: bytes) -> Any:
        decoded.append(body)
        return decode_event(body)

    monkeypatch.setattr("dueq.producer.feed.decode_event", spy)
    heard: list[SchedulerEvent] = []
    dispatcher = ListenerDispatcher()
    dispatcher.add_listener(heard.append, EVENT_SCHEDULER_STARTED)  # no outcome in its mask
    feed = ListenerFeed(
        broker_url="memory://", topology=Topology(prefix="p"), dispatcher=dispatcher,
        stopping=threading.Event(),
    )  # fmt: skip
    feed._on_message(_delivery(encode(EXECUTED), 1))
    assert decoded == []  # acknowledged with the rest, never decoded

    dispatcher.add_listener(heard.append, EVENT_JOB_EXECUTED)
    feed._on_message(_delivery(encode(EXECUTED), 2))
    dispatcher.close()
    assert len(decoded) == 1
    assert [e.code for e in heard] == [EVENT_JOB_EXECUTED]
    assert feed._unacked == [1, 2]


def test_adding_an_outcome_listener_stops_listening_until_the_queue_is_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The feed's thread is not running: only the adding thread acts.
    monkeypatch.setattr("dueq.producer.feed._SLICE_S", 0.0)
    dispatcher = ListenerDispatcher()
    feed = ListenerFeed(
        broker_url="memory://", topology=Topology(prefix="p"), dispatcher=dispatcher,
        stopping=threading.Event(),
    )  # fmt: skip
    feed._idle()  # no outcome listener: listening, nothing bound
    assert feed.ready.is_set()
    dispatcher.add_listener(lambda event: None, EVENT_JOB_EXECUTED)
    assert not feed.ready.is_set()
    dispatcher.close()
