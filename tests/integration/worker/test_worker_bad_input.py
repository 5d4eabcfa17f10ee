"""Bad messages are dead-lettered with their reason and reported; the worker keeps serving."""

from __future__ import annotations

import json
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pika
import pika.data
import pytest

from dueq.shared.broker import REASON_HEADER, SOURCE_QUEUE_HEADER
from dueq.shared.protocol import MAX_MESSAGE_BYTES, JobRejected, encode
from tests.faults.faults_tap import pika_url
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


def _publish_with_pika(probe: BrokerProbe, rabbitmq_url: str, body: bytes, **props: Any) -> None:
    """Publish what dueq's own adapters never would (pika sets any property as given)."""
    connection = pika.BlockingConnection(pika.URLParameters(pika_url(rabbitmq_url)))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            probe.topology.runs_exchange, "default", body, pika.BasicProperties(**props)
        )
    finally:
        connection.close()


def test_a_message_whose_properties_cannot_be_decoded_is_dead_lettered_not_a_poison(
    probe: BrokerProbe,
    start_worker: WorkerFactory,
    rabbitmq_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # py-amqp raised decoding these: the worker stopped (a message_id that is not UTF-8), or
    # reconnected and got the same message again, for ever (a header timestamp past 9999).
    start_worker()
    not_utf8, far = make_run(f"{JOBS}:add", args=[1, 1]), make_run(f"{JOBS}:add", args=[2, 2])
    _publish_with_pika(probe, rabbitmq_url, encode(not_utf8), message_id=b"id-\xff")
    with monkeypatch.context() as patched:  # pika writes any datetime as this many seconds
        patched.setattr(pika.data, "calendar", SimpleNamespace(timegm=lambda _: 2**62))
        headers = {"at": datetime(2026, 1, 1)}
        _publish_with_pika(probe, rabbitmq_url, encode(far), message_id="far", headers=headers)
    valid = make_run(f"{JOBS}:add", args=[20, 22])
    probe.publish(valid)

    assert probe.wait_event(valid.run_id, "job_executed").retval == 42  # type: ignore[union-attr]
    dead = probe.wait_dead(2)
    reasons = sorted(message.headers[REASON_HEADER] for message in dead)
    assert [r.split(": ")[1] for r in reasons] == ["OSError", "UnicodeDecodeError"]
    assert all("AMQP properties cannot be decoded" in r for r in reasons)
    assert sorted(message.body for message in dead) == sorted([encode(not_utf8), encode(far)])
    probe.wait_for(lambda _: len(_rejections(probe)) == 2, 10, "two job_rejected")
    assert probe.depth() == 0  # acked, not left to come back
