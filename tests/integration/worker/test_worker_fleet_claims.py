"""Workers sharing a database: dedupe across workers, and jobs longer than the ack timeout."""

from __future__ import annotations

import logging
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dueq.shared.protocol import JobExecuted
from tests.integration.worker.conftest import WorkerFactory
from tests.jobs_for_tests.harness import JOBS, BrokerProbe, make_run
from tests.support.waiting import wait_until

# RabbitMQ 3.10 checks the consumer ack timeout about once a minute per channel (measured:
# ~59 s after the channel opened), so a job must outlive that to prove anything.
_TIMEOUT_CHECK_PERIOD_S = 60
_SHORT_CONSUMER_TIMEOUT_MS = 1000


def test_the_same_run_delivered_to_two_workers_sharing_a_database_executes_once(
    probe: BrokerProbe, start_worker: WorkerFactory, pg_schema_url: str, tmp_path: Path
) -> None:
    for _ in range(2):
        start_worker(database_url=pg_schema_url, concurrency=2)
    release = tmp_path / "release"
    run = make_run(f"{JOBS}:wait_for_file", kwargs={"marker": str(release)}, max_instances=5)
    probe.publish(run, run, run)
    probe.wait_event(run.run_id, "job_started")
    wait_until(lambda: probe.depth() == 0, "every copy taken off the queue", timeout=15)
    release.touch()
    probe.wait_event(run.run_id, "job_executed")
    follow_up = make_run(f"{JOBS}:add", args=[1, 1])
    probe.publish(follow_up)
    probe.wait_event(follow_up.run_id, "job_executed")
    assert len(probe.starts(run.run_id)) == 1
    assert len(probe.of_run(run.run_id, "job_executed")) == 1


def _rabbitmqctl_eval(expression: str) -> str:
    result = subprocess.run(
        ["rabbitmqctl", "eval", expression],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


@contextmanager
def _short_consumer_timeout() -> Iterator[None]:
    """Shorten RabbitMQ's global consumer ack timeout while channels are opened.

    A channel reads the value when it opens and keeps it, so the global setting is restored
    as soon as the block ends (the workers' channels are open by then), which keeps the
    change invisible to anyone else using the broker.
    """
    previous = re.fullmatch(
        r"\{ok,(\d+)\}", _rabbitmqctl_eval("application:get_env(rabbit, consumer_timeout).")
    )
    assert previous, "cannot read RabbitMQ's consumer_timeout"
    _rabbitmqctl_eval(
        f"application:set_env(rabbit, consumer_timeout, {_SHORT_CONSUMER_TIMEOUT_MS})."
    )
    try:
        yield
    finally:
        _rabbitmqctl_eval(f"application:set_env(rabbit, consumer_timeout, {previous[1]}).")


@pytest.mark.timeout(150)
def test_a_job_outliving_the_consumer_ack_timeout_is_not_redelivered_with_a_database(
    probe: BrokerProbe,
    start_worker: WorkerFactory,
    pg_schema_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="dueq.worker.consumer")
    long_queue, control_queue = "long-db", "long-nodb"
    probe.conn.declare_topology(probe.topology, [long_queue, control_queue])
    probe.queues += [long_queue, control_queue]
    with _short_consumer_timeout():
        durable = start_worker(database_url=pg_schema_url, queues=(long_queue,))
        control = start_worker(queues=(control_queue,))  # no database: acks at the end
    release = tmp_path / "release"
    long_run = make_run(
        f"{JOBS}:wait_for_file", queue=long_queue, kwargs={"marker": str(release), "timeout": 120}
    )
    control_run = make_run(
        f"{JOBS}:wait_for_file",
        queue=control_queue,
        kwargs={"marker": str(release), "timeout": 120},
    )
    probe.publish(long_run, control_run)
    probe.wait_event(long_run.run_id, "job_started")

    # The control proves the short timeout is in force: its unacked run gets its channel
    # closed by the broker.  The durable worker acked at claim time and is left alone.
    def control_lost_its_channel() -> bool:
        return any("PRECONDITION_FAILED" in r.getMessage() for r in caplog.records)

    wait_until(
        control_lost_its_channel, "the broker's timeout", timeout=_TIMEOUT_CHECK_PERIOD_S + 30
    )
    release.touch()
    executed = probe.wait_event(long_run.run_id, "job_executed", timeout=30)

    assert isinstance(executed, JobExecuted)
    assert executed.worker_id == durable.worker_id
    assert executed.redelivered is False
    assert len(probe.starts(long_run.run_id)) == 1
    lost = [
        r.getMessage() for r in caplog.records if "lost the broker connection" in r.getMessage()
    ]
    assert any(control.worker_id in m for m in lost)
    assert not any(durable.worker_id in m for m in lost)
