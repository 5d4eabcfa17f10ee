"""Run-control fields are optional extensions of protocol 1: absent at their defaults."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from dueq.shared.protocol import (
    RetryPolicy,
    RunRequest,
    backoff_delay,
    decode_run,
    encode,
    make_run_id,
)

AT = datetime(2026, 1, 1, 9, tzinfo=UTC)
NEW_FIELDS = {"attempt", "retry", "timeout", "coalesce", "next_scheduled_at"}


def _run(**control: object) -> RunRequest:
    return RunRequest(
        run_id=make_run_id("j", AT),
        job_id="j",
        job_name="j",
        func="f",
        scheduled_at=AT,
        published_at=AT,
        epoch=1,
        **control,  # type: ignore[arg-type]
    )


def test_a_run_using_no_run_control_reads_exactly_as_protocol_1_did() -> None:
    body = json.loads(encode(_run()))
    assert not NEW_FIELDS & set(body)


def test_run_control_fields_round_trip_when_set() -> None:
    run = _run(
        attempt=2,
        retry=RetryPolicy(max_attempts=4, retry_on=["OSError"]),
        timeout=1.5,
        coalesce=True,
        next_scheduled_at=AT + timedelta(minutes=1),
    )
    assert decode_run(encode(run)) == run
    assert set(json.loads(encode(run))) >= NEW_FIELDS


def test_each_attempt_has_its_own_deterministic_run_id_and_the_first_keeps_the_old_one() -> None:
    first = make_run_id("j", AT)
    assert make_run_id("j", AT, 1) == first
    assert make_run_id("j", AT, 2) == make_run_id("j", AT, 2)
    assert len({first, make_run_id("j", AT, 2), make_run_id("j", AT, 3)}) == 3


def test_backoff_doubles_up_to_its_cap_and_jitter_only_shortens_it() -> None:
    policy = RetryPolicy(backoff_s=2, backoff_max_s=10, jitter=False)
    delays = [backoff_delay(policy, n).total_seconds() for n in (1, 2, 3, 4)]
    assert delays == [2, 4, 8, 10]
    jittered = policy.model_copy(update={"jitter": True})
    for _ in range(50):
        assert 1 <= backoff_delay(jittered, 1, random.Random()).total_seconds() <= 2
