"""Bad messages are dead-lettered with their reason and reported; the worker keeps serving."""

from __future__ import annotations

import json

import pytest

from dueq.shared.broker import REASON_HEADER, SOURCE_QUEUE_HEADER
from dueq.shared.protocol import MAX_MESSAGE_BYTES, JobRejected, encode
from tests.integration.worker.conftest import WorkerFactory
from tests.jobs_for_tests.harness import JOBS, BrokerProbe, make_run


def _rejections(probe: BrokerProbe) -> list[JobRejected]:
    return [e for e in probe.events if isinstance(e, JobRejected)]


@pytest.mark.parametrize(
    ("body", "reason_part"),
    [
        (b'{"protocol": 1, "run_id": ', "Invalid JSON"),
        (json.dumps({"protocol": 1, "run_id": "r-1", "job_id": 7}).encode(), "invalid RunRequest"),
        (json.dumps({"protocol": 9, "run_id": "r-1"}).encode(), "unsupported protocol version"),
        (b"x" * (MAX_MESSAGE_BYTES + 1), "the limit is"),
    ],
    ids=["malformed-json", "wrong-schema", "unknown-protocol", "oversize"],
)
def test_an_unparseable_message_is_dead_lettered_reported_and_the_next_run_still_runs(
    probe: BrokerProbe, start_worker: WorkerFactory, body: bytes, reason_part: str
) -> None:
    start_worker()
    probe.publish_raw(body, message_id="bad-1")
    valid = make_run(f"{JOBS}:add", args=[20, 22])
    probe.publish(valid)

    executed = probe.wait_event(valid.run_id, "job_executed")
    (dead,) = probe.wait_dead(1)
    probe.wait_for(lambda _: bool(_rejections(probe)), 10, "job_rejected")
    assert dead.body == body
    assert reason_part in dead.headers[REASON_HEADER]
    assert dead.headers[SOURCE_QUEUE_HEADER] == probe.topology.run_queue("default")
    (rejected,) = _rejections(probe)
    assert reason_part in rejected.reason
    assert rejected.message_id == "bad-1"
    assert executed.retval == 42  # type: ignore[union-attr]
    assert probe.depth() == 0  # the bad message was acked, not left to loop


@pytest.mark.parametrize(
    "func",
    [
        "os:system",
        "builtins:eval",
        "subprocess:run",
        f"{JOBS}:os.system",  # a module reached through an allowed one
        f"{JOBS}:__builtins__",
        f"{JOBS}:json.loads",
        "tests.jobs_for_tests:worker_jobs",  # the parent package is not allowed
        "unknown-registered-name",
        "a" * 255,
    ],
)
def test_a_function_outside_the_allowlist_is_never_run_and_is_dead_lettered(
    probe: BrokerProbe, start_worker: WorkerFactory, func: str
) -> None:
    start_worker()
    hostile = make_run(func, args=["touch /tmp/pwned"])
    valid = make_run(f"{JOBS}:add", args=[1, 1])
    probe.publish(hostile, valid)

    probe.wait_event(valid.run_id, "job_executed")
    (dead,) = probe.wait_dead(1)
    rejected = probe.wait_event(hostile.run_id, "job_rejected")
    assert isinstance(rejected, JobRejected)
    assert "is not allowed" in rejected.reason
    assert (rejected.job_id, rejected.scheduled_at) == (hostile.job_id, hostile.scheduled_at)
    assert dead.body == encode(hostile)
    assert "is not allowed" in dead.headers[REASON_HEADER]
    assert probe.starts(hostile.run_id) == []


def test_an_async_job_on_the_thread_executor_is_refused_with_a_clear_reason(
    probe: BrokerProbe, start_worker: WorkerFactory
) -> None:
    start_worker(executor="thread")
    run = make_run(f"{JOBS}:async_add", args=[1, 2])
    probe.publish(run)
    rejected = probe.wait_event(run.run_id, "job_rejected")
    (dead,) = probe.wait_dead(1)
    assert isinstance(rejected, JobRejected)
    assert "--executor asyncio" in rejected.reason
    assert "--executor asyncio" in dead.headers[REASON_HEADER]
