"""The committed JSON Schemas are the generated ones, and they judge messages as dueq does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from dueq.shared.protocol import (
    JobExecuted,
    JobRejected,
    WorkerHeartbeat,
    encode,
)
from dueq.shared.protocol.schema import generate_schemas, render_schema

from .test_protocol_messages import AT, EVERY_EVENT, WHO, a_run

SCHEMA_DIR = Path(__file__).resolve().parents[4] / "docs" / "protocol"


def validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / name).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


@pytest.mark.parametrize("name", sorted(generate_schemas()))
def test_the_committed_schema_matches_the_models(name: str) -> None:
    committed = (SCHEMA_DIR / name).read_text(encoding="utf-8")
    assert committed == render_schema(generate_schemas()[name]), (
        f"docs/protocol/{name} is out of date: run `make schema` and commit the result"
    )


def test_every_message_dueq_writes_passes_its_schema() -> None:
    validator("run_request.json").validate(json.loads(encode(a_run())))
    events = validator("event.json")
    for event in EVERY_EVENT:
        events.validate(json.loads(encode(event)))


@pytest.mark.parametrize(
    "change",
    [
        {"protocol": 2},
        {"epoch": "7"},
        {"queue": "has space"},
        {"retry": {"max_attempts": 2, "priority": 9}},
        {"max_instances": 0},
    ],
)
def test_the_run_schema_refuses_what_the_decoder_refuses(change: dict[str, Any]) -> None:
    data = {**json.loads(encode(a_run())), **change}
    assert not validator("run_request.json").is_valid(data)


def test_the_run_schema_accepts_an_unknown_top_level_field_as_the_decoder_does() -> None:
    data = {**json.loads(encode(a_run())), "priority": 9}
    assert validator("run_request.json").is_valid(data)


def test_the_event_schema_tells_event_types_apart() -> None:
    events = validator("event.json")
    heartbeat = json.loads(encode(WorkerHeartbeat(**WHO, queues=["q"], running=0, capacity=1)))
    assert events.is_valid(heartbeat)
    assert not events.is_valid({**heartbeat, "event": "job_executed"})
    rejected = json.loads(encode(JobRejected(**WHO, reason="bad")))
    assert events.is_valid(rejected)
    executed = JobExecuted(
        **WHO,
        run_id="r",
        job_id="j",
        scheduled_at=AT,
        started_at=AT,
        finished_at=AT,
        duration_s=0.0,
        lateness_s=0.0,
    )
    without_finish = {k: v for k, v in json.loads(encode(executed)).items() if k != "finished_at"}
    assert not events.is_valid(without_finish)


def test_the_schemas_require_protocol_and_event_on_every_message() -> None:
    run = {k: v for k, v in json.loads(encode(a_run())).items() if k != "protocol"}
    assert not validator("run_request.json").is_valid(run)
    events = validator("event.json")
    for event in EVERY_EVENT:
        data = json.loads(encode(event))
        for field in ("protocol", "event"):
            assert not events.is_valid({k: v for k, v in data.items() if k != field})


@pytest.mark.parametrize(
    "stamp", ["2026-13-01T00:00:00Z", "2026-01-32T00:00:00Z", "2026-01-01T24:00:00Z"]
)
def test_the_timestamp_pattern_refuses_impossible_dates(stamp: str) -> None:
    data = {**json.loads(encode(a_run())), "scheduled_at": stamp}
    assert not validator("run_request.json").is_valid(data)


def test_the_event_schema_uses_only_json_schema_keywords() -> None:
    assert "discriminator" not in (SCHEMA_DIR / "event.json").read_text(encoding="utf-8")
