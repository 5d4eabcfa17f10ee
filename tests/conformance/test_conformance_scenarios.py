"""What every dueq consumer must do with each kind of message (docs/protocol.md).

One consumer process per consumer kind serves this whole module; each test uses job ids
of its own, so the tests do not see each other's runs.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dueq.shared.protocol import (
    JobError,
    JobExecuted,
    JobMaxInstances,
    JobMissed,
    JobRejected,
    JobStarted,
    encode,
)
from dueq.shared.signing import Signer
from tests.conformance.conformance_kit import Bus, Harness, Received

pytestmark = pytest.mark.integration

# Seconds a "now" run may honestly be late by when a consumer checks it on a busy machine.
PROMPT = 5.0

# A consumer's clock may count whole milliseconds (JavaScript's Date.now() does), so a run it
# takes within a millisecond of publication can read up to this much less late than it is.
CLOCK_RESOLUTION = 0.001


def test_valid_run_is_started_then_executed_with_its_return_value(harness: Harness) -> None:
    bus, consumer = harness.bus, harness.consumer
    run = bus.run_request(
        "conformance.echo", args=[1, "two", {"three": 3}], kwargs={"four": [4, None]}
    )
    bus.publish_runs(run)

    executed = bus.wait_event("job_executed", run_id=run.run_id, consumer=consumer)
    assert bus.about(run.run_id) == ["job_started", "job_executed"]
    started = bus.wait_event("job_started", run_id=run.run_id).event
    result = executed.event
    assert isinstance(started, JobStarted)
    assert isinstance(result, JobExecuted)
    assert result.retval == {"args": [1, "two", {"three": 3}], "kwargs": {"four": [4, None]}}
    assert result.retval_is_repr is False
    for event in (started, result):
        assert (event.job_id, event.scheduled_at) == (run.job_id, run.scheduled_at)
        assert event.redelivered is False
        assert event.worker_id == harness.online.body["worker_id"]
        assert -CLOCK_RESOLUTION <= event.lateness_s < PROMPT
    assert result.started_at <= result.finished_at
    assert result.duration_s >= 0


def test_a_run_with_fields_the_consumer_does_not_know_is_run_as_if_they_were_absent(
    harness: Harness,
) -> None:
    # Protocol 1 gains optional fields (docs/protocol.md, Versioning): a consumer must
    # ignore a top-level field it does not know, not reject the run.
    bus, consumer = harness.bus, harness.consumer
    run = bus.run_request("conformance.echo", args=[7])
    body = json.loads(encode(run))
    body["priority_hint"] = {"from": "a newer scheduler", "level": 5}
    bus.publish_raw(json.dumps(body).encode(), run.run_id)

    executed = bus.wait_event("job_executed", run_id=run.run_id, consumer=consumer).event
    assert isinstance(executed, JobExecuted)
    assert executed.retval == {"args": [7], "kwargs": {}}
    assert bus.about(run.run_id) == ["job_started", "job_executed"]


def test_run_later_than_its_misfire_grace_time_is_reported_missed_not_run(
    harness: Harness,
) -> None:
    bus, consumer = harness.bus, harness.consumer
    late = datetime.now(UTC) - timedelta(seconds=60)
    run = bus.run_request("conformance.echo", scheduled_at=late, misfire_grace_time=1.0)
    bus.publish_runs(run)

    missed = bus.wait_event("job_missed", run_id=run.run_id, consumer=consumer).event
    bus.barrier(consumer)
    assert bus.about(run.run_id) == ["job_missed"]
    assert isinstance(missed, JobMissed)
    assert missed.misfire_grace_time == 1.0
    assert 60 - CLOCK_RESOLUTION <= missed.lateness_s < 60 + PROMPT
    assert missed.scheduled_at == run.scheduled_at


def test_run_without_misfire_grace_time_runs_however_late(harness: Harness) -> None:
    bus, consumer = harness.bus, harness.consumer
    late = datetime.now(UTC) - timedelta(hours=1)
    run = bus.run_request("conformance.echo", scheduled_at=late, misfire_grace_time=None)
    bus.publish_runs(run)

    started = bus.wait_event("job_started", run_id=run.run_id, consumer=consumer).event
    bus.wait_event("job_executed", run_id=run.run_id, consumer=consumer)
    assert isinstance(started, JobStarted)
    assert started.lateness_s >= 3600 - CLOCK_RESOLUTION


def test_second_concurrent_run_over_max_instances_is_refused(harness: Harness) -> None:
    bus, consumer = harness.bus, harness.consumer
    job_id = f"sleepy-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    runs = [
        bus.run_request(
            "conformance.sleep",
            job_id=job_id,
            scheduled_at=now + timedelta(milliseconds=i),
            kwargs={"seconds": 1.0},
            max_instances=1,
        )
        for i in range(2)
    ]
    bus.publish_runs(*runs)

    refused = bus.wait_event("job_max_instances", consumer=consumer, where=_of_job(job_id))
    ran = next(run for run in runs if run.run_id != refused.run_id)
    executed = bus.wait_event("job_executed", run_id=ran.run_id, consumer=consumer).event
    assert isinstance(refused.event, JobMaxInstances)
    assert (refused.event.max_instances, refused.event.running) == (1, 1)
    assert bus.about(refused.event.run_id) == ["job_max_instances"]
    assert bus.about(ran.run_id) == ["job_started", "job_executed"]
    assert isinstance(executed, JobExecuted)
    assert executed.retval == 1.0


def test_failing_job_is_reported_with_type_message_and_traceback(harness: Harness) -> None:
    bus, consumer = harness.bus, harness.consumer
    token = f"boom-{uuid.uuid4().hex[:8]}"
    run = bus.run_request("conformance.fail", kwargs={"message": token})
    bus.publish_runs(run)

    error = bus.wait_event("job_error", run_id=run.run_id, consumer=consumer).event
    assert bus.about(run.run_id) == ["job_started", "job_error"]
    assert isinstance(error, JobError)
    assert "ConformanceFailure" in error.exception.type
    assert error.exception.message == token
    assert token in error.exception.traceback
    assert error.started_at <= error.finished_at


def test_duplicate_run_id_executes_once(harness: Harness) -> None:
    bus, consumer = harness.bus, harness.consumer
    run = bus.run_request("conformance.echo", args=["once"])
    bus.publish_runs(run, run)  # a scheduler republishing after a crash
    bus.wait_event("job_executed", run_id=run.run_id, consumer=consumer)
    bus.publish_runs(run)  # and again, after it finished
    bus.barrier(consumer)

    assert bus.about(run.run_id) == ["job_started", "job_executed"]


def _malformed_bodies() -> dict[str, bytes]:
    valid = {
        "protocol": 1,
        "run_id": "r-" + uuid.uuid4().hex,
        "job_id": "j-" + uuid.uuid4().hex,
        "job_name": "n",
        "func": "conformance.echo",
        "args": [],
        "kwargs": {},
        "scheduled_at": "2026-01-01T09:00:00.000000Z",
        "published_at": "2026-01-01T09:00:00.000000Z",
        "misfire_grace_time": None,
        "max_instances": 1,
        "queue": "conformance",
        "epoch": 1,
    }
    return {
        "not-json": b"{this is not json",
        "not-utf8": b'{"protocol": 1, "run_id": "\xff\xfe"}',
        "missing-field": json.dumps({k: v for k, v in valid.items() if k != "func"}).encode(),
        "naive-timestamp": json.dumps({**valid, "scheduled_at": "2026-01-01T09:00:00"}).encode(),
        "protocol-2": json.dumps({**valid, "protocol": 2}).encode(),
        "wrong-type": json.dumps({**valid, "args": {"not": "a list"}}).encode(),
        "over-1-MiB": json.dumps({**valid, "args": ["x" * (1024 * 1024)]}).encode(),
    }


@pytest.mark.parametrize("kind", list(_malformed_bodies()))
def test_malformed_message_is_dead_lettered_with_reason_and_rejected(
    harness: Harness, kind: str
) -> None:
    bus, consumer = harness.bus, harness.consumer
    body = _malformed_bodies()[kind]
    message_id = f"bad-{kind}-{uuid.uuid4().hex[:8]}"
    bus.publish_raw(body, message_id)

    rejected = bus.wait_event(
        "job_rejected", consumer=consumer, where=lambda r: r.body.get("message_id") == message_id
    ).event
    dead = bus.wait_dead(message_id, consumer)
    assert isinstance(rejected, JobRejected)
    _assert_dead_letter(bus, dead.body, dead.headers, body, rejected.reason)


def test_function_outside_the_allowlist_is_rejected_and_never_run(
    harness: Harness, tmp_path: Path
) -> None:
    bus, consumer = harness.bus, harness.consumer
    proof = tmp_path / "pwned"
    runs = [
        bus.run_request("os:system", args=[f"touch {proof}"]),
        bus.run_request("builtins:eval", args=[f"open({str(proof)!r}, 'w')"]),
        bus.run_request("conformance.not_registered"),
    ]
    bus.publish_runs(*runs)

    for run in runs:
        rejected = bus.wait_event("job_rejected", run_id=run.run_id, consumer=consumer).event
        assert isinstance(rejected, JobRejected)
        assert (rejected.message_id, rejected.job_id) == (run.run_id, run.job_id)
        assert rejected.scheduled_at == run.scheduled_at
        dead = bus.wait_dead(run.run_id, consumer)
        _assert_dead_letter(bus, dead.body, dead.headers, encode(run), rejected.reason)
    bus.barrier(consumer)
    assert not proof.exists()
    assert all(bus.about(run.run_id) == ["job_rejected"] for run in runs)


def _assert_dead_letter(
    bus: Bus, body: bytes, headers: Mapping[str, object], original: bytes, reason: str
) -> None:
    """docs/protocol.md "Bad messages": original body, reason and provenance headers."""
    assert body == original
    assert reason, "job_rejected must say why"
    dead_reason = headers.get("x-dueq-reason")
    assert isinstance(dead_reason, str)
    assert dead_reason
    assert "\n" not in dead_reason
    assert headers.get("x-dueq-source-queue") == bus.run_queue
    dead_at = datetime.fromisoformat(str(headers.get("x-dueq-dead-at")))
    assert dead_at.tzinfo is not None
    assert abs((datetime.now(UTC) - dead_at).total_seconds()) < 60


def _of_job(job_id: str) -> Callable[[Received], bool]:
    return lambda received: received.body.get("job_id") == job_id


def test_unsigned_forged_or_mistyped_runs_are_rejected_and_never_run(harness: Harness) -> None:
    bus, consumer = harness.bus, harness.consumer
    cases = {
        "unsigned message": None,
        "unknown key": Signer("a-key-the-consumer-was-never-given-0123456789"),
        "is not a run": bus.signer,  # a worker's event signature replayed as a run
    }
    sent = {}
    for reason, signer in cases.items():
        run = bus.run_request("conformance.echo", args=["forged"])
        kind = "job_executed" if reason == "is not a run" else "dueq.run"
        bus.publish_forged(encode(run), run.run_id, signer=signer, kind=kind)
        sent[reason] = run
    for reason, run in sent.items():
        rejected = bus.wait_event(
            "job_rejected", consumer=consumer, where=_with_message_id(run.run_id)
        ).event
        assert isinstance(rejected, JobRejected)
        assert reason in rejected.reason, rejected.reason
    bus.barrier(consumer)  # any run handled by mistake would have been reported by now
    for run in sent.values():
        handled = {"job_started", "job_executed"} & set(bus.about(run.run_id))
        assert not handled, f"a forged run was handled: {bus.about(run.run_id)}"


def _with_message_id(message_id: str) -> Callable[[Received], bool]:
    return lambda received: received.body.get("message_id") == message_id


def test_events_go_to_the_events_queue_whatever_reply_to_names(harness: Harness) -> None:
    bus, consumer = harness.bus, harness.consumer
    run = bus.run_request("conformance.echo", args=["here"])
    bus.publish_replying_elsewhere(run, bus.topology.dead_letter_queue)
    bus.wait_event("job_executed", run_id=run.run_id, consumer=consumer)
    assert not [m for m in bus.dead if m.correlation_id == run.run_id]
