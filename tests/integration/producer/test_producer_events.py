"""Worker events on the events queue reach listeners (APScheduler codes) and run history."""

from __future__ import annotations

import queue
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pika
import pika.data
import pytest

from dueq.producer import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
    SchedulerEvent,
)
from dueq.producer.history import RunStatus
from dueq.shared.broker import BrokerConnection, OutgoingMessage
from dueq.shared.protocol import (
    ExceptionInfo,
    JobError,
    JobExecuted,
    JobMissed,
    JobStarted,
    WorkerOnline,
    encode,
    make_run_id,
)
from dueq.shared.topology import Topology
from tests.faults.faults_tap import pika_url
from tests.integration.producer.conftest import MakeScheduler
from tests.integration.producer.producer_support import DEADLINE_S
from tests.support.waiting import wait_until

T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)
WORKER: dict[str, Any] = {"worker_id": "w1", "hostname": "host-1", "pid": 42, "emitted_at": T0}


def about(job_id: str) -> dict[str, Any]:
    return {**WORKER, "run_id": make_run_id(job_id, T0), "job_id": job_id, "scheduled_at": T0}


def send(rabbitmq_url: str, topology: Topology, bodies: list[bytes]) -> None:
    with BrokerConnection(rabbitmq_url) as connection:
        connection.declare_topology(topology, ())
        connection.publisher().publish_many(
            [
                OutgoingMessage(body=b, exchange="", routing_key=topology.events_queue)
                for b in bodies
            ]
        )


def test_events_reach_listeners_with_their_codes_and_land_in_run_history(
    database_url: str, make_scheduler: MakeScheduler, rabbitmq_url: str, topology: Topology
) -> None:
    scheduler = make_scheduler(database_url)
    for job_id in ("ok", "boom", "late"):  # history records runs of existing jobs only
        scheduler.add_job("pkg.jobs:work", "interval", hours=1000, id=job_id)
    heard: queue.Queue[SchedulerEvent] = queue.Queue()
    scheduler.add_listener(heard.put, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    scheduler.start()
    wait_until(lambda: scheduler.is_leader, "leadership", timeout=DEADLINE_S)
    timing: dict[str, Any] = {
        "started_at": T0,
        "finished_at": T0,
        "duration_s": 1.5,
        "lateness_s": 0.2,
    }
    error = ExceptionInfo(type="builtins.ValueError", message="bad", traceback="Traceback...")
    send(
        rabbitmq_url,
        topology,
        [
            encode(WorkerOnline(**WORKER, queues=["default"], concurrency=4, executor="thread",
                                version="0.1.0")),
            encode(JobExecuted(**about("ok"), **timing, retval={"rows": 3})),
            b'{"protocol": 1, "event": "job_exploded"}',  # not ours: dead-lettered, skipped
            encode(JobError(**about("boom"), **timing, exception=error)),
            # A redelivered job_started arriving after the outcome must not turn it back.
            encode(JobStarted(**about("ok"), started_at=T0, lateness_s=0.2)),
            encode(JobMissed(**about("late"), lateness_s=99.0, misfire_grace_time=5.0)),
        ],
    )  # fmt: skip
    got = [heard.get(timeout=20) for _ in range(3)]
    assert all(isinstance(e, JobExecutionEvent) for e in got)
    executed, failed, missed = got
    assert isinstance(executed, JobExecutionEvent)
    assert (executed.code, executed.job_id, executed.retval) == (
        EVENT_JOB_EXECUTED,
        "ok",
        {"rows": 3},
    )
    assert (executed.scheduled_run_time, executed.run_id) == (T0, make_run_id("ok", T0))
    assert (executed.worker_id, executed.hostname, executed.duration_s) == ("w1", "host-1", 1.5)
    assert isinstance(failed, JobExecutionEvent)
    assert failed.code == EVENT_JOB_ERROR
    assert failed.exception is not None
    assert (failed.exception.type_name, failed.exception.message) == ("builtins.ValueError", "bad")
    assert failed.traceback == "Traceback..."
    assert missed.code == EVENT_JOB_MISSED

    # Events are recorded, then heard, in order: everything sent before "late" is recorded.
    history = scheduler.history
    late = history.get_run(make_run_id("late", T0))
    assert late is not None
    assert late.status is RunStatus.MISSED
    ok = history.get_run(make_run_id("ok", T0))
    assert ok is not None
    assert (ok.status, ok.retval, ok.worker_id) == (RunStatus.EXECUTED, {"rows": 3}, "w1")
    boom = history.get_run(make_run_id("boom", T0))
    assert boom is not None
    assert (boom.status, boom.exception_type) == (RunStatus.ERROR, "builtins.ValueError")
    [worker] = history.get_workers()
    assert (worker.worker_id, worker.status, worker.concurrency) == ("w1", "online", 4)
    assert _depth(rabbitmq_url, topology.dead_letter_queue) == 1


def _depth(url: str, queue_name: str) -> int:
    with BrokerConnection(url) as connection:
        return connection.queue_depth(queue_name)


def test_a_run_taken_over_after_its_worker_died_keeps_both_executions_in_history(
    database_url: str, make_scheduler: MakeScheduler, rabbitmq_url: str, topology: Topology
) -> None:
    scheduler = make_scheduler(database_url)
    scheduler.add_job("pkg.jobs:work", "interval", hours=1000, id="long")
    heard: queue.Queue[SchedulerEvent] = queue.Queue()
    scheduler.add_listener(heard.put, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    scheduler.start()
    wait_until(lambda: scheduler.is_leader, "leadership", timeout=DEADLINE_S)
    run_id = make_run_id("long", T0)
    first = {**about("long"), "worker_id": "w-died", "pid": 7}
    second = {**about("long"), "worker_id": "w-took", "redelivered": True, "taken_over": True}
    began, again = T0 + timedelta(seconds=1), T0 + timedelta(seconds=40)

    # The first worker starts the run, then dies without a word.
    send(rabbitmq_url, topology, [encode(JobStarted(**first, started_at=began, lateness_s=1.0))])
    wait_until(
        lambda: scheduler.history.get_run(run_id) is not None, "the first start", timeout=DEADLINE_S
    )
    # Its claim lapses and another worker runs it again, to the end.
    send(
        rabbitmq_url,
        topology,
        [
            encode(JobStarted(**second, started_at=again, lateness_s=40.0)),
            encode(JobExecuted(**second, started_at=again + timedelta(milliseconds=1),
                               finished_at=again + timedelta(seconds=2), duration_s=2.0,
                               lateness_s=40.0, retval="done")),
        ],
    )  # fmt: skip

    executed = heard.get(timeout=20)
    assert isinstance(executed, JobExecutionEvent)
    assert (executed.code, executed.worker_id, executed.retval) == (
        EVENT_JOB_EXECUTED,
        "w-took",
        "done",
    )
    lost, finished = scheduler.history.get_executions(run_id)
    assert (lost.execution, lost.status, lost.worker_id, lost.started_at) == (
        1,
        RunStatus.LOST,
        "w-died",
        began,
    )
    assert lost.exception_message is not None
    assert "w-took" in lost.exception_message
    assert (finished.execution, finished.status, finished.worker_id, finished.retval) == (
        2,
        RunStatus.EXECUTED,
        "w-took",
        "done",
    )
    assert finished.redelivered
    assert [r.execution for r in scheduler.history.get_runs("long")] == [2, 1]
    assert heard.empty()  # a lost execution is no listener event: listeners hear one outcome


def test_events_whose_properties_cannot_be_decoded_are_dead_lettered_and_recording_goes_on(
    database_url: str,
    make_scheduler: MakeScheduler,
    rabbitmq_url: str,
    topology: Topology,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # py-amqp raised decoding these (a message_id that is not UTF-8, a header timestamp past
    # 9999) inside the events consumer's drain: the event never left the queue.
    scheduler = make_scheduler(database_url)
    scheduler.add_job("pkg.jobs:work", "interval", hours=1000, id="ok")
    scheduler.start()
    wait_until(lambda: scheduler.is_leader, "leadership", timeout=DEADLINE_S)
    timing: dict[str, Any] = {"started_at": T0, "finished_at": T0, "duration_s": 1.0}
    body = encode(JobExecuted(**about("ok"), **timing, lateness_s=0.0, retval=None))
    hostile = pika.BlockingConnection(pika.URLParameters(pika_url(rabbitmq_url)))
    try:
        channel = hostile.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            "", topology.events_queue, b"{}", pika.BasicProperties(message_id=b"\xff")
        )
        with monkeypatch.context() as patched:  # pika writes any datetime as this many seconds
            patched.setattr(pika.data, "calendar", SimpleNamespace(timegm=lambda _: 2**62))
            far = pika.BasicProperties(headers={"at": datetime(2026, 1, 1)})
            channel.basic_publish("", topology.events_queue, b"{}", far)
        channel.basic_publish("", topology.events_queue, body)
    finally:
        hostile.close()

    def recorded() -> bool:
        run = scheduler.history.get_run(make_run_id("ok", T0))
        return run is not None and run.status is RunStatus.EXECUTED

    wait_until(recorded, "the valid event recorded after the two", timeout=DEADLINE_S)
    wait_until(
        lambda: _depth(rabbitmq_url, topology.dead_letter_queue) == 2,
        "both undecodable events dead-lettered",
        timeout=DEADLINE_S,
    )
