"""Each event a worker publishes, provoked against the real RabbitMQ, with its fields."""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dueq.shared.protocol import (
    JobError,
    JobExecuted,
    JobMaxInstances,
    JobMissed,
    JobStarted,
    RetryPolicy,
    WorkerHeartbeat,
    WorkerOffline,
    WorkerOnline,
)
from tests.integration.worker.conftest import WorkerFactory
from tests.jobs_for_tests.harness import JOBS, BrokerProbe, ago, make_run


def test_a_worker_says_online_sends_heartbeats_and_says_offline(
    probe: BrokerProbe, start_worker: WorkerFactory
) -> None:
    worker = start_worker(concurrency=3, heartbeat_interval=0.2, worker_id="w-life")
    probe.wait_for(lambda ev: len(probe.of_type("worker_heartbeat")) >= 2, 10, "2 heartbeats")
    worker.stop()
    probe.wait_for(lambda ev: bool(probe.of_type("worker_offline")), 10, "worker_offline")

    (online,) = probe.of_type("worker_online")
    assert isinstance(online, WorkerOnline)
    assert (online.worker_id, online.pid, online.queues) == ("w-life", os.getpid(), ["default"])
    assert (online.concurrency, online.executor) == (3, "thread")
    assert online.hostname
    assert online.version
    heartbeat = probe.of_type("worker_heartbeat")[-1]
    assert isinstance(heartbeat, WorkerHeartbeat)
    assert (heartbeat.running, heartbeat.capacity, heartbeat.queues) == (0, 3, ["default"])
    (offline,) = probe.of_type("worker_offline")
    assert isinstance(offline, WorkerOffline)
    assert offline.worker_id == "w-life"
    assert offline.reason == "shutdown"


def test_a_short_run_reports_one_job_executed_carrying_its_start(
    probe: BrokerProbe, start_worker: WorkerFactory
) -> None:
    # The job ends before its start is sent: the start is folded into the outcome
    # (docs/protocol.md, "Folded starts"), one event instead of two.
    start_worker(worker_id="w-ok")
    run = make_run(f"{JOBS}:add", args=[2, 3], scheduled_at=ago(1.5))
    probe.publish(run)

    executed = probe.wait_event(run.run_id, "job_executed")  # a start sent comes before it
    assert [e.event.value for e in probe.of_run(run.run_id)] == ["job_executed"]
    assert isinstance(executed, JobExecuted)
    assert (executed.retval, executed.retval_is_repr, executed.redelivered) == (5, False, False)
    assert (executed.job_id, executed.scheduled_at) == (run.job_id, run.scheduled_at)
    assert (executed.worker_id, executed.pid) == ("w-ok", os.getpid())
    assert executed.started_at <= executed.finished_at
    assert executed.duration_s >= 0
    assert 1.5 <= executed.lateness_s < 30
    message = probe.event_messages[probe.events.index(executed)]
    assert message.correlation_id == run.run_id
    assert message.type == "job_executed"


def test_a_run_still_going_when_its_start_is_sent_reports_started_then_executed(
    probe: BrokerProbe, start_worker: WorkerFactory, tmp_path: Path
) -> None:
    start_worker(worker_id="w-long")
    marker = tmp_path / "release"
    run = make_run(f"{JOBS}:wait_for_file", args=[str(marker)], scheduled_at=ago(0.5))
    probe.publish(run)

    started = probe.wait_event(run.run_id, "job_started")  # while the job still waits
    marker.touch()
    executed = probe.wait_event(run.run_id, "job_executed")
    assert isinstance(started, JobStarted)
    assert isinstance(executed, JobExecuted)
    assert [e.event.value for e in probe.of_run(run.run_id)] == ["job_started", "job_executed"]
    assert 0.5 <= started.lateness_s < 30
    assert started.started_at <= executed.started_at + timedelta(seconds=1)
    assert executed.retval == "released"


def test_a_return_value_json_cannot_hold_is_reported_as_its_repr(
    probe: BrokerProbe, start_worker: WorkerFactory
) -> None:
    start_worker()
    run = make_run(f"{JOBS}:unserializable")
    probe.publish(run)
    executed = probe.wait_event(run.run_id, "job_executed")
    assert isinstance(executed, JobExecuted)
    assert (executed.retval, executed.retval_is_repr) == ("{1, 2, 3}", True)


def test_a_failing_job_reports_its_exception_type_message_and_traceback(
    probe: BrokerProbe, start_worker: WorkerFactory
) -> None:
    start_worker()
    run = make_run(f"{JOBS}:fail", args=["disk full"])
    probe.publish(run)
    error = probe.wait_event(run.run_id, "job_error")
    assert isinstance(error, JobError)
    assert (error.exception.type, error.exception.message) == ("ValueError", "disk full")
    assert "worker_jobs.py" in error.exception.traceback
    assert error.exception.traceback.rstrip().endswith("ValueError: disk full")
    assert error.finished_at >= error.started_at


def test_text_utf8_cannot_encode_from_a_job_is_reported_escaped_not_lost(
    probe: BrokerProbe, start_worker: WorkerFactory, pg_schema_url: str
) -> None:
    # A file name with an undecodable byte, returned or in an exception, once made the
    # outcome impossible to serialize: the run was never reported and its claim stayed held.
    start_worker(database_url=pg_schema_url)
    returned, raised = make_run(f"{JOBS}:undecodable_name"), make_run(f"{JOBS}:fail_on_undecodable")
    probe.publish(returned)
    probe.publish(raised)
    executed = probe.wait_event(returned.run_id, "job_executed")
    assert isinstance(executed, JobExecuted)
    assert (executed.retval, executed.retval_is_repr) == (r"'report-\udcff.csv'", True)
    error = probe.wait_event(raised.run_id, "job_error")
    assert isinstance(error, JobError)
    assert (error.exception.type, error.exception.message) == (
        "ValueError",
        r"cannot parse in-\udcfe.csv",
    )


def test_a_retry_echoes_the_run_as_received_whatever_the_job_did_to_its_arguments(
    probe: BrokerProbe, start_worker: WorkerFactory, pg_schema_url: str
) -> None:
    start_worker(database_url=pg_schema_url)
    run = make_run(
        f"{JOBS}:change_and_fail",
        args=[[1, 2]],
        kwargs={"options": {"a": 1}},
        retry=RetryPolicy(max_attempts=2),
    )
    probe.publish(run)
    error = probe.wait_event(run.run_id, "job_error")
    assert isinstance(error, JobError)
    assert error.retry_request is not None
    assert (error.retry_request.args, error.retry_request.kwargs) == (
        [[1, 2]],
        {"options": {"a": 1}},
    )


def test_a_run_later_than_its_grace_time_is_missed_and_one_without_grace_time_runs(
    probe: BrokerProbe, start_worker: WorkerFactory
) -> None:
    start_worker()
    late = make_run(f"{JOBS}:add", args=[1, 1], scheduled_at=ago(60), misfire_grace_time=5)
    unlimited = make_run(f"{JOBS}:add", args=[1, 2], scheduled_at=ago(3600))
    probe.publish(late, unlimited)

    missed = probe.wait_event(late.run_id, "job_missed")
    probe.wait_event(unlimited.run_id, "job_executed")
    assert isinstance(missed, JobMissed)
    assert 60 <= missed.lateness_s < 90
    assert missed.misfire_grace_time == 5
    assert missed.scheduled_at == late.scheduled_at
    assert probe.starts(late.run_id) == []


def test_a_run_finding_every_instance_slot_taken_reports_max_instances(
    probe: BrokerProbe, start_worker: WorkerFactory, tmp_path: Path
) -> None:
    start_worker(concurrency=4)
    release = tmp_path / "release"
    now = datetime.now(UTC)
    holding = make_run(
        f"{JOBS}:wait_for_file", job_id="busy", kwargs={"marker": str(release)}, scheduled_at=now
    )
    second = make_run(
        f"{JOBS}:wait_for_file",
        job_id="busy",
        kwargs={"marker": str(release)},
        scheduled_at=now + timedelta(seconds=1),
    )
    probe.publish(holding)
    probe.wait_event(holding.run_id, "job_started")
    probe.publish(second)

    refused = probe.wait_event(second.run_id, "job_max_instances")
    release.touch()
    probe.wait_event(holding.run_id, "job_executed")
    assert isinstance(refused, JobMaxInstances)
    assert (refused.max_instances, refused.running, refused.job_id) == (1, 1, "busy")
    assert probe.starts(second.run_id) == []


def test_events_go_to_the_events_queue_whatever_queue_reply_to_names(
    probe: BrokerProbe, start_worker: WorkerFactory
) -> None:
    # Followed, reply_to would let whoever can publish a run make every worker write into
    # any queue it names (issue 11); events always go to the topology's events queue.
    start_worker()
    run = make_run(f"{JOBS}:add", args=[1, 1])
    message = probe.run_message(run)
    elsewhere = probe.topology.dead_letter_queue  # exists, so nothing bounces as unroutable
    probe.publisher.publish(dataclasses.replace(message, reply_to=elsewhere))
    probe.wait_event(run.run_id, "job_executed")
    assert [e.event.value for e in probe.of_run(run.run_id)] == ["job_executed"]
    assert probe.dead == []
