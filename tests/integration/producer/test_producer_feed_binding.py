"""The listener feed binds its queue only while a listener of its scheduler takes outcomes.

Checked on RabbitMQ: a mandatory publish to the listeners exchange comes back unroutable
exactly when no scheduler's queue is bound to it.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from dueq.producer.feed import ListenerFeed, outcome_messages
from dueq.producer.listeners import (
    EVENT_JOB_EXECUTED,
    EVENT_SCHEDULER_STARTED,
    ListenerDispatcher,
    SchedulerEvent,
)
from dueq.shared.broker import BrokerConnection, PublishError
from dueq.shared.protocol import JobExecuted, encode, make_run_id
from dueq.shared.topology import Topology
from tests.support.waiting import wait_until

T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)
EXECUTED = JobExecuted(
    worker_id="w", hostname="h", pid=1, emitted_at=T0, job_id="j",
    run_id=make_run_id("j", T0), scheduled_at=T0, lateness_s=0.0,
    started_at=T0, finished_at=T0, duration_s=0.1, retval=7,
)  # fmt: skip
DEADLINE_S = 20.0


class Rig:
    def __init__(self, url: str, topology: Topology) -> None:
        self.url, self.topology = url, topology
        self.dispatcher = ListenerDispatcher()
        self.stopping = threading.Event()
        self.feed = ListenerFeed(
            broker_url=url, topology=topology, dispatcher=self.dispatcher, stopping=self.stopping
        )
        self.thread = threading.Thread(target=self.feed.run, name="dueq-test-feed")

    def routable(self) -> bool:
        """Publish an outcome that must reach a queue; False if the broker returned it."""
        [message] = outcome_messages(self.topology, [(EXECUTED, encode(EXECUTED))])
        with BrokerConnection(self.url) as connection:
            connection.declare_topology(self.topology, ())
            try:
                connection.publisher().publish_many([dataclasses.replace(message, mandatory=True)])
            except PublishError:
                return False
        return True

    def bound(self) -> bool:
        return self.feed.ready.is_set() and self.feed._consumer is not None


@pytest.fixture
def rig(rabbitmq_url: str, topology: Topology) -> Iterator[Rig]:
    rig = Rig(rabbitmq_url, topology)
    yield rig
    rig.stopping.set()
    if rig.thread.is_alive():
        rig.thread.join(DEADLINE_S)
    rig.dispatcher.close()


def test_without_an_outcome_listener_nothing_is_bound_and_the_feed_counts_as_listening(
    rig: Rig,
) -> None:
    rig.dispatcher.add_listener(lambda event: None, EVENT_SCHEDULER_STARTED)  # no outcomes
    rig.thread.start()
    wait_until(rig.feed.ready.is_set, "feed ready", timeout=DEADLINE_S)
    assert rig.feed._consumer is None
    assert not rig.routable()


def test_an_outcome_listener_added_later_binds_the_queue_and_hears_outcomes(rig: Rig) -> None:
    rig.thread.start()
    wait_until(rig.feed.ready.is_set, "feed ready without listeners", timeout=DEADLINE_S)
    heard: queue.Queue[SchedulerEvent] = queue.Queue()
    rig.dispatcher.add_listener(heard.put, EVENT_JOB_EXECUTED)
    # Not listening from the moment the listener is added until the queue is bound.
    wait_until(rig.bound, "queue bound for the new listener", timeout=DEADLINE_S)
    assert rig.routable()
    assert heard.get(timeout=DEADLINE_S).code == EVENT_JOB_EXECUTED


def test_removing_the_last_outcome_listener_unbinds_the_queue(rig: Rig) -> None:
    def listener(event: SchedulerEvent) -> None:
        pass

    rig.dispatcher.add_listener(listener, EVENT_JOB_EXECUTED)
    rig.thread.start()
    wait_until(rig.bound, "queue bound", timeout=DEADLINE_S)
    rig.dispatcher.remove_listener(listener)
    wait_until(
        lambda: rig.feed._consumer is None and rig.feed.ready.is_set(),
        "queue unbound, listening to nothing",
        timeout=DEADLINE_S,
    )
    assert not rig.routable()
