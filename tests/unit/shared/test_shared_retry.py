"""Transient errors are retried and logged per attempt; permanent ones propagate at once."""

from __future__ import annotations

import logging

import pytest

from dueq.shared.errors import BrokerUnavailable, ConfigError
from dueq.shared.retry import call_with_retry


def test_a_transient_error_is_retried_until_the_call_succeeds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    attempts: list[int] = []

    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise BrokerUnavailable("amqp://u:pw@mq//", "connection refused")
        return "published"

    with caplog.at_level(logging.WARNING):
        assert call_with_retry("broker", logging.getLogger("t"), flaky) == "published"
    assert len(attempts) == 3
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0].startswith("temporary broker error (attempt 1): broker unavailable")
    assert "(attempt 2)" in messages[1]
    assert all("pw" not in m.split("@")[0].split(":")[-1] for m in messages)


def test_a_permanent_error_is_raised_without_retrying() -> None:
    attempts: list[int] = []

    def broken() -> None:
        attempts.append(1)
        raise ConfigError("bad setting")

    with pytest.raises(ConfigError):
        call_with_retry("broker", logging.getLogger("t"), broken)
    assert attempts == [1]


def test_retrying_gives_up_after_the_deadline() -> None:
    def down() -> None:
        raise BrokerUnavailable("amqp://mq//", "refused")

    with pytest.raises(BrokerUnavailable):
        call_with_retry("broker", logging.getLogger("t"), down, give_up_after=0.3)
