"""Embedded mode: scheduler threads over kombu's memory transport and the memory store.

Also shows that a slow or failing listener never stalls scheduling.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from dueq.producer import EVENT_JOB_SUBMITTED, BackgroundScheduler, SchedulerEvent
from dueq.shared.broker import BrokerConnection, IncomingMessage
from dueq.shared.protocol import RunRequest, decode_run


@pytest.fixture
def scheduler(memory_broker_url: str) -> Iterator[BackgroundScheduler]:
    threads = set(threading.enumerate())
    sched = BackgroundScheduler(
        database_url="memory://", broker_url=memory_broker_url, queue_type="classic"
    )
    yield sched
    sched.shutdown()
    leaked = [t for t in threading.enumerate() if t not in threads]
    assert not leaked, f"threads left running: {leaked}"


def collect(url: str, scheduler: BackgroundScheduler, count: int) -> list[RunRequest]:
    """Consume the default run queue (in this thread) until ``count`` runs arrived."""
    got: list[RunRequest] = []
    topology = scheduler.settings.topology()
    with BrokerConnection(url) as connection:
        connection.declare_topology(topology)

        def on_message(message: IncomingMessage) -> None:
            got.append(decode_run(message.body))
            consumer.ack(message.delivery_tag)

        consumer = connection.consumer(
            [topology.run_queue("default")], prefetch=50, on_message=on_message
        )
        consumer.start()
        deadline = time.monotonic() + 20
        while len(got) < count:
            assert time.monotonic() < deadline, f"only {len(got)} of {count} runs arrived"
            connection.drain_events(0.05)
        consumer.cancel()
    return got


def test_a_stuck_and_a_failing_listener_do_not_stall_scheduling(
    scheduler: BackgroundScheduler, memory_broker_url: str
) -> None:
    release = threading.Event()
    stuck_calls: list[SchedulerEvent] = []

    def stuck(event: SchedulerEvent) -> None:
        stuck_calls.append(event)
        release.wait(30)

    def failing(_event: SchedulerEvent) -> None:
        raise RuntimeError("listener bug")

    scheduler.add_listener(stuck, EVENT_JOB_SUBMITTED)
    scheduler.add_listener(failing)
    scheduler.add_job("pkg.jobs:tick", "interval", seconds=0.2, id="j", coalesce=False)
    scheduler.start()
    runs = collect(memory_broker_url, scheduler, 8)
    release.set()
    assert len(stuck_calls) == 1  # still blocked in its first event while runs kept coming
    assert len({r.run_id for r in runs}) == 8


def test_a_job_added_while_running_is_published_at_once_not_after_the_longest_sleep(
    memory_broker_url: str,
) -> None:
    scheduler = BackgroundScheduler(
        database_url="memory://",
        broker_url=memory_broker_url,
        queue_type="classic",
        max_sleep_seconds=60,
    )
    try:
        scheduler.start()
        deadline = time.monotonic() + 20
        while not scheduler.is_leader:
            assert time.monotonic() < deadline, "never became the leader"
            time.sleep(0.02)
        added_at = time.monotonic()
        scheduler.add_job("pkg.jobs:once", "date", id="now")
        [run] = collect(memory_broker_url, scheduler, 1)
        assert run.job_id == "now"
        assert time.monotonic() - added_at < 5  # woken by the change, not by the 60 s timer
    finally:
        scheduler.shutdown()
