"""Protocol v1 messages round-trip, and bad payloads are refused with a reason naming the field."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from dueq.shared.errors import ProtocolError
from dueq.shared.protocol import (
    MAX_ARGUMENTS_BYTES,
    MAX_MESSAGE_BYTES,
    Event,
    ExceptionInfo,
    JobError,
    JobExecuted,
    JobMaxInstances,
    JobMissed,
    JobRejected,
    JobStarted,
    RunRequest,
    WorkerHeartbeat,
    WorkerOffline,
    WorkerOnline,
    decode_event,
    decode_run,
    encode,
    make_run_id,
)

AT = datetime(2026, 3, 29, 1, 30, 0, 123456, tzinfo=UTC)
WHO: dict[str, Any] = {"worker_id": "w-1", "hostname": "host-a", "pid": 42, "emitted_at": AT}
RUN: dict[str, Any] = {"run_id": "r-1", "job_id": "j-1", "scheduled_at": AT}


def a_run(**overrides: Any) -> RunRequest:
    fields: dict[str, Any] = {
        "run_id": make_run_id("j-1", AT),
        "job_id": "j-1",
        "job_name": "nightly report",
        "func": "reports.jobs:nightly",
        "args": [1, "two", {"three": [3.0]}],
        "kwargs": {"flag": True, "none": None},
        "scheduled_at": AT,
        "published_at": AT + timedelta(milliseconds=5),
        "misfire_grace_time": 30.0,
        "max_instances": 2,
        "queue": "reports",
        "epoch": 7,
    }
    fields.update(overrides)
    return RunRequest(**fields)


def wire(run: RunRequest) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(encode(run))
    return data


def reason_of(body: bytes) -> str:
    with pytest.raises(ProtocolError) as caught:
        decode_run(body)
    assert caught.value.raw == body[: len(caught.value.raw)]
    return caught.value.reason


EVERY_EVENT: list[Any] = [
    JobStarted(**WHO, **RUN, started_at=AT, lateness_s=0.25, redelivered=True),
    JobExecuted(
        **WHO, **RUN, started_at=AT, finished_at=AT, duration_s=0.5, lateness_s=0.1, retval=[1]
    ),
    JobError(
        **WHO,
        **RUN,
        started_at=AT,
        finished_at=AT,
        duration_s=0.5,
        lateness_s=0.1,
        exception=ExceptionInfo(type="builtins.ValueError", message="bad", traceback="Tb..."),
    ),
    JobMissed(**WHO, **RUN, lateness_s=61.0, misfire_grace_time=60.0),
    JobMaxInstances(**WHO, **RUN, max_instances=1, running=1),
    JobRejected(**WHO, reason="invalid JSON", message_id="m-1"),
    WorkerOnline(**WHO, queues=["default"], concurrency=8, executor="thread", version="0.1.0"),
    WorkerHeartbeat(**WHO, queues=["default"], running=3, capacity=8),
    WorkerOffline(**WHO),
]


def test_a_run_request_round_trips_through_its_wire_form() -> None:
    run = a_run()
    assert decode_run(encode(run)) == run


def test_timestamps_are_written_in_utc_with_microseconds_and_z() -> None:
    data = wire(a_run(scheduled_at=datetime(2026, 1, 1, 10, tzinfo=timezone(timedelta(hours=2)))))
    assert data["scheduled_at"] == "2026-01-01T08:00:00.000000Z"
    assert data["published_at"] == "2026-03-29T01:30:00.128456Z"


def test_every_message_carries_protocol_version_1() -> None:
    assert wire(a_run())["protocol"] == 1
    assert all(json.loads(encode(event))["protocol"] == 1 for event in EVERY_EVENT)


def test_run_id_is_deterministic_in_job_and_scheduled_time() -> None:
    same_instant_elsewhere = AT.astimezone(timezone(timedelta(hours=-5)))
    assert make_run_id("j-1", AT) == make_run_id("j-1", same_instant_elsewhere)
    assert make_run_id("j-1", AT) != make_run_id("j-2", AT)
    assert make_run_id("j-1", AT) != make_run_id("j-1", AT + timedelta(microseconds=1))


@pytest.mark.parametrize("event", EVERY_EVENT, ids=lambda e: str(e.event))
def test_every_event_round_trips_through_its_wire_form(event: Event) -> None:
    assert decode_event(encode(event)) == event


def test_malformed_json_is_refused_as_invalid_json() -> None:
    assert reason_of(b'{"protocol": 1, "run_id": ').startswith("Invalid JSON")


def test_a_newer_protocol_version_is_refused_by_name() -> None:
    body = json.dumps({**wire(a_run()), "protocol": 2}).encode()
    assert "unsupported protocol version" in reason_of(body)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("epoch", "7", "epoch"),
        ("max_instances", 0, "max_instances"),
        ("args", {"not": "a list"}, "args"),
        ("misfire_grace_time", -1, "misfire_grace_time"),
        ("queue", "has space", "queue"),
        ("func", "", "func"),
        ("scheduled_at", "2026-03-29T01:30:00", "scheduled_at"),
        ("scheduled_at", "yesterday", "scheduled_at"),
    ],
)
def test_a_wrong_field_is_refused_with_a_reason_naming_it(
    field: str, value: object, expected: str
) -> None:
    body = json.dumps({**wire(a_run()), field: value}).encode()
    assert expected in reason_of(body)


def test_naive_timestamps_are_refused_because_they_are_ambiguous() -> None:
    body = json.dumps({**wire(a_run()), "published_at": "2026-03-29T01:30:00"}).encode()
    assert "UTC offset" in reason_of(body)


def test_an_unknown_top_level_run_field_is_ignored_as_a_newer_optional_field() -> None:
    run = a_run()
    body = json.dumps({**wire(run), "priority": 9}).encode()
    assert decode_run(body) == run


def test_unknown_fields_inside_a_run_field_and_in_events_are_refused() -> None:
    body = json.dumps({**wire(a_run()), "retry": {"max_attempts": 2, "pickle": 1}}).encode()
    assert "pickle" in reason_of(body)
    event = {**json.loads(encode(EVERY_EVENT[0])), "priority": 9}
    with pytest.raises(ProtocolError, match="priority"):
        decode_event(json.dumps(event).encode())


def test_missing_fields_are_named() -> None:
    data = wire(a_run())
    del data["job_id"]
    assert "job_id" in reason_of(json.dumps(data).encode())


def test_oversize_arguments_are_refused_when_building_a_run() -> None:
    with pytest.raises(ValidationError, match="limit is"):
        a_run(args=["x" * MAX_ARGUMENTS_BYTES])


def test_an_oversize_message_is_refused_before_parsing() -> None:
    body = b'{"junk": "' + b"x" * MAX_MESSAGE_BYTES + b'"}'
    assert "limit is" in reason_of(body)


def test_an_event_of_unknown_type_is_refused() -> None:
    body = json.dumps({**json.loads(encode(EVERY_EVENT[0])), "event": "job_teleported"}).encode()
    with pytest.raises(ProtocolError, match="event"):
        decode_event(body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    args=st.lists(json_values, max_size=5),
    kwargs=st.dictionaries(st.text(min_size=1, max_size=10), json_values, max_size=5),
    micros=st.integers(0, 10**6 - 1),
)
def test_any_json_arguments_round_trip_unchanged(
    args: list[Any], kwargs: dict[str, Any], micros: int
) -> None:
    run = a_run(args=args, kwargs=kwargs, scheduled_at=AT.replace(microsecond=micros))
    decoded = decode_run(encode(run))
    assert decoded == run
    assert decoded.scheduled_at.microsecond == micros


def test_the_protocol_field_is_required_on_the_wire() -> None:
    data = wire(a_run())
    del data["protocol"]
    assert "missing required field(s): protocol" in reason_of(json.dumps(data).encode())


def test_events_without_protocol_or_event_are_refused() -> None:
    data = json.loads(encode(EVERY_EVENT[0]))
    for field in ("protocol", "event"):
        partial = {k: v for k, v in data.items() if k != field}
        with pytest.raises(ProtocolError):
            decode_event(json.dumps(partial).encode())


def test_the_argument_limit_counts_utf8_bytes() -> None:
    three_bytes_each = "€" * (MAX_ARGUMENTS_BYTES // 3 - 10)
    a_run(args=[three_bytes_each], kwargs={})  # fits: just under 64 KiB as UTF-8
    with pytest.raises(ValidationError, match="limit is"):
        a_run(args=[three_bytes_each + "€" * 20], kwargs={})
