"""A consumer's life: it announces itself, beats, stops cleanly, and loses nothing if killed.

Each test starts its own consumer process(es) on a prefix of its own.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dueq.shared.protocol import (
    JobExecuted,
    JobStarted,
    WorkerHeartbeat,
    WorkerOffline,
    WorkerOnline,
)
from tests.conformance.conformance_kit import STARTUP_TIMEOUT, Bus
from tests.conformance.conformance_process import ConsumerProcess, ConsumerSpec

pytestmark = pytest.mark.integration

StartConsumer = Callable[[ConsumerSpec, Bus], ConsumerProcess]


def _online(bus: Bus, consumer: ConsumerProcess) -> WorkerOnline:
    pid = consumer.process.pid
    received = bus.wait_event(
        "worker_online",
        consumer=consumer,
        timeout=STARTUP_TIMEOUT,
        where=lambda r: r.body["pid"] == pid,
    )
    assert isinstance(received.event, WorkerOnline)
    return received.event


def test_consumer_says_online_then_offline_and_exits_zero_on_sigterm(
    consumer_spec: ConsumerSpec, bus: Bus, start_consumer: StartConsumer
) -> None:
    consumer = start_consumer(consumer_spec, bus)
    online = _online(bus, consumer)
    run = bus.run_request("conformance.echo")
    bus.publish_runs(run)
    bus.wait_event("job_executed", run_id=run.run_id, consumer=consumer)

    assert consumer.terminate() == 0
    offline = bus.wait_event("worker_offline", where=lambda r: r.body["pid"] == online.pid).event
    assert bus.queue in online.queues
    assert online.concurrency >= 2, "the max_instances scenario needs two runs at once"
    assert isinstance(offline, WorkerOffline)
    assert offline.worker_id == online.worker_id
    assert bus.depth() == 0, "every run was acknowledged"


def test_sigterm_lets_the_running_job_finish_and_report_first(
    consumer_spec: ConsumerSpec, bus: Bus, start_consumer: StartConsumer
) -> None:
    consumer = start_consumer(consumer_spec, bus)
    _online(bus, consumer)
    run = bus.run_request("conformance.sleep", kwargs={"seconds": 1.0})
    bus.publish_runs(run)
    bus.wait_event("job_started", run_id=run.run_id, consumer=consumer)

    assert consumer.terminate() == 0
    bus.wait_event("worker_offline")
    names = [r.name for r in bus.events if r.run_id == run.run_id or r.name == "worker_offline"]
    assert names == ["job_started", "job_executed", "worker_offline"]
    assert bus.depth() == 0


def test_consumer_sends_heartbeats_with_its_capacity(
    consumer_spec: ConsumerSpec, bus: Bus, start_consumer: StartConsumer
) -> None:
    consumer = start_consumer(consumer_spec.beating_fast(), bus)
    online = _online(bus, consumer)

    beat = bus.wait_event("worker_heartbeat", consumer=consumer, timeout=5.0).event
    assert isinstance(beat, WorkerHeartbeat)
    assert beat.worker_id == online.worker_id
    assert bus.queue in beat.queues
    assert beat.capacity == online.concurrency
    assert beat.running == 0


def test_run_of_a_killed_consumer_is_redelivered_and_reported_as_such(
    consumer_spec: ConsumerSpec, bus: Bus, start_consumer: StartConsumer
) -> None:
    first = start_consumer(consumer_spec, bus)
    first_online = _online(bus, first)
    run = bus.run_request("conformance.sleep", kwargs={"seconds": 2.0})
    bus.publish_runs(run)
    bus.wait_event("job_started", run_id=run.run_id, consumer=first)
    first.kill()  # mid-run, before the outcome: the run was never acknowledged

    second = start_consumer(consumer_spec, bus)
    second_online = _online(bus, second)
    again = bus.wait_event(
        "job_started", run_id=run.run_id, consumer=second, where=lambda r: r.body["redelivered"]
    ).event
    executed = bus.wait_event("job_executed", run_id=run.run_id, consumer=second).event

    assert isinstance(again, JobStarted)
    assert isinstance(executed, JobExecuted)
    assert again.worker_id == executed.worker_id == second_online.worker_id
    assert second_online.worker_id != first_online.worker_id
    assert executed.redelivered is True
    assert bus.about(run.run_id) == ["job_started", "job_started", "job_executed"]
    assert second.terminate() == 0
    assert bus.depth() == 0
