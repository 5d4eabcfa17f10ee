"""``ARGUMENTS_CHECKED`` skips only the argument-size measure, and only when passed as is."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from dueq.shared.errors import ProtocolError
from dueq.shared.protocol import (
    ARGUMENTS_CHECKED,
    MAX_ARGUMENTS_BYTES,
    RunRequest,
    decode_run,
    encode,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _values(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "run_id": "r1",
        "job_id": "j1",
        "job_name": "name",
        "func": "pkg.jobs:work",
        "args": ["x" * MAX_ARGUMENTS_BYTES],
        "scheduled_at": T0,
        "published_at": T0,
        "epoch": 1,
    }
    return {**values, **changes}


def test_a_sender_that_measured_the_arguments_gets_the_same_message() -> None:
    small = _values(args=[1, "a"], kwargs={"k": None})
    trusted = RunRequest.model_validate(small, context=ARGUMENTS_CHECKED)
    assert encode(trusted) == encode(RunRequest(**small))


def test_only_the_argument_size_is_skipped() -> None:
    RunRequest.model_validate(_values(), context=ARGUMENTS_CHECKED)  # oversized, trusted
    with pytest.raises(ValidationError):
        RunRequest.model_validate(_values(job_name=""), context=ARGUMENTS_CHECKED)


def test_an_equal_context_or_a_decoded_message_is_still_measured() -> None:
    with pytest.raises(ValidationError):
        RunRequest.model_validate(_values(), context={"arguments_checked": True})
    body = encode(RunRequest.model_validate(_values(), context=ARGUMENTS_CHECKED))
    with pytest.raises(ProtocolError, match="the limit is"):
        decode_run(body)
