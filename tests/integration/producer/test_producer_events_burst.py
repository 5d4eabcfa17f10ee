"""The events consumer steps aside while the loop publishes a burst and while its runs start,
for a bounded time, and closes a batch that stays short of its prefetch once its first event
has waited long enough."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from dueq.producer import events as events_module
from dueq.producer.events import EventsConsumer
from dueq.producer.history import MemoryRunHistory
from dueq.shared.broker import BrokerConnection, OutgoingMessage
from dueq.shared.protocol import JobExecuted, encode, make_run_id
from dueq.shared.topology import Topology
from tests.integration.producer.producer_support import DEADLINE_S
from tests.support.waiting import wait_until

T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)


class CountedStop(threading.Event):
    """The consumer's stop flag, counting its timed waits (one per yielded slice)."""

    def __init__(self) -> None:
        super().__init__()
        self.waits = 0

    def wait(self, timeout: float | None = None) -> bool:
        self.waits += 1
        return super().wait(timeout)


class Rig:
    """An events consumer on its own thread, with the flags the service would give it."""

    def __init__(self, rabbitmq_url: str, topology: Topology, prefetch: int = 10) -> None:
        self.url = rabbitmq_url
        self.topology = topology
        # Declared before the consumer starts: RabbitMQ 3.10 answers a second first-time
        # declaration of a quorum queue before the queue's Raft member runs, and a publish
        # or consume racing the first one is then nacked or crashes its channel.
        with BrokerConnection(rabbitmq_url) as connection:
            connection.declare_topology(topology, ())
        self.history = MemoryRunHistory()
        self.burst = threading.Event()
        self.stopping = CountedStop()
        leading, feed_ready = threading.Event(), threading.Event()
        leading.set()
        feed_ready.set()
        self.consumer = EventsConsumer(
            broker_url=rabbitmq_url, topology=topology, history=self.history,
            leading=leading, publishing_burst=self.burst, feed_ready=feed_ready,
            stopping=self.stopping, clock=lambda: T0, prefetch=prefetch,
        )  # fmt: skip
        self.thread = threading.Thread(target=self.consumer.run, name="dueq-test-events")

    def send_outcome(self, job_id: str) -> None:
        event = JobExecuted(
            worker_id="w", hostname="h", pid=1, emitted_at=T0, job_id=job_id,
            run_id=make_run_id(job_id, T0), scheduled_at=T0, started_at=T0, finished_at=T0,
            duration_s=0.0, lateness_s=0.0, retval=None,
        )  # fmt: skip
        with BrokerConnection(self.url) as connection:
            connection.publisher().publish_many(
                [OutgoingMessage(body=encode(event), exchange="",
                                 routing_key=self.topology.events_queue)]
            )  # fmt: skip

    def recorded(self) -> int:
        return len(self.history.get_runs(limit=10))


@pytest.fixture
def rig(rabbitmq_url: str, topology: Topology) -> Iterator[Rig]:
    made = Rig(rabbitmq_url, topology)
    yield made
    made.stopping.set()
    made.thread.join(DEADLINE_S)
    assert not made.thread.is_alive()


def test_events_wait_in_their_queue_while_a_burst_is_published_then_are_recorded(
    rig: Rig,
) -> None:
    rig.burst.set()
    rig.thread.start()
    rig.send_outcome("j")
    seen = rig.stopping.waits
    # Many slices yielded after the event was queued: the consumer was there and held off.
    wait_until(lambda: rig.stopping.waits >= seen + 10, "yielded slices", timeout=DEADLINE_S)
    assert rig.recorded() == 0
    rig.burst.clear()  # the loop's last batch was partial: the burst is out
    wait_until(lambda: rig.recorded() == 1, "the event recorded", timeout=DEADLINE_S)


def test_recording_stays_aside_after_the_burst_for_twice_its_length_then_resumes(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events_module, "_YIELD_MAX_S", 3600.0)  # only the settling ends it
    rig.burst.set()
    rig.thread.start()
    rig.send_outcome("j")
    seen = rig.stopping.waits
    wait_until(lambda: rig.stopping.waits >= seen + 10, "yielded slices", timeout=DEADLINE_S)
    rig.burst.clear()  # the burst lasted at least 10 slices: it settles for at least 20 more
    cleared = rig.stopping.waits
    wait_until(lambda: rig.stopping.waits >= cleared + 5, "slices after it", timeout=DEADLINE_S)
    assert rig.recorded() == 0  # its runs are still starting: the event waits in its queue
    wait_until(lambda: rig.recorded() == 1, "the event recorded", timeout=DEADLINE_S)


def test_a_burst_that_never_ends_holds_recording_back_for_a_bounded_time(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events_module, "_YIELD_MAX_S", 0.2)
    rig.burst.set()  # and never cleared: an overloaded loop whose batches stay full
    rig.thread.start()
    rig.send_outcome("j")
    wait_until(lambda: rig.recorded() == 1, "the event recorded", timeout=DEADLINE_S)


def test_a_batch_short_of_its_prefetch_closes_at_its_age_when_the_queue_never_goes_quiet(
    rabbitmq_url: str, topology: Topology, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A queue that never counts as quiet (events every few ms at 1,000/s): only the age
    # bound closes a batch of one event in a consumer that holds a thousand.
    monkeypatch.setattr(events_module, "_QUIET_S", 3600.0)
    monkeypatch.setattr(events_module, "_BATCH_AGE_S", 0.05)
    rig = Rig(rabbitmq_url, topology, prefetch=1000)
    rig.thread.start()
    try:
        rig.send_outcome("j")
        wait_until(lambda: rig.recorded() == 1, "the event recorded", timeout=DEADLINE_S)
    finally:
        rig.stopping.set()
        rig.thread.join(DEADLINE_S)
    assert not rig.thread.is_alive()
