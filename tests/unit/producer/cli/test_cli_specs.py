"""What people type: durations, JSON arguments, ISO times and the choice of trigger."""

from __future__ import annotations

from datetime import datetime, timedelta

import click
import pytest

from dueq.producer.cli.specs import (
    DURATION,
    ISO_DATETIME,
    JSON_ARRAY,
    JSON_OBJECT,
    trigger_from_flags,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("1w2d", timedelta(days=9)),
        ("90", timedelta(seconds=90)),
        ("0.5", timedelta(seconds=0.5)),
        ("1.5h", timedelta(minutes=90)),
        ("PT5M", timedelta(minutes=5)),
    ],
)
def test_durations_read_as_people_write_them(text: str, expected: timedelta) -> None:
    assert DURATION.convert(text, None, None) == expected


@pytest.mark.parametrize("text", ["", "5x", "m5", "30s5m", "1h 30x", "P"])
def test_a_malformed_duration_is_a_usage_error_naming_the_text(text: str) -> None:
    with pytest.raises(click.BadParameter, match="is not a duration"):
        DURATION.convert(text, None, None)


def test_json_arguments_must_have_the_right_shape() -> None:
    assert JSON_ARRAY.convert('[1, "a"]', None, None) == [1, "a"]
    assert JSON_OBJECT.convert('{"n": 1}', None, None) == {"n": 1}
    with pytest.raises(click.BadParameter, match="not a JSON array"):
        JSON_ARRAY.convert('{"n": 1}', None, None)
    with pytest.raises(click.BadParameter, match="not JSON"):
        JSON_OBJECT.convert("{n: 1}", None, None)


def test_iso_times_parse_and_garbage_does_not() -> None:
    assert ISO_DATETIME.convert("2026-12-01T09:00", None, None) == datetime(2026, 12, 1, 9)
    with pytest.raises(click.BadParameter, match="ISO 8601"):
        ISO_DATETIME.convert("tomorrow", None, None)


def test_exactly_one_trigger_flag_is_turned_into_add_job_arguments() -> None:
    assert trigger_from_flags("*/5 * * * *", None, None) == ("*/5 * * * *", {})
    assert trigger_from_flags(None, timedelta(seconds=30), None) == ("interval", {"seconds": 30.0})
    at = datetime(2026, 12, 1, 9)
    assert trigger_from_flags(None, None, at) == ("date", {"run_date": at})
    assert trigger_from_flags(None, None, None) is None
    with pytest.raises(click.UsageError, match="--cron and --interval"):
        trigger_from_flags("* * * * *", timedelta(seconds=1), None)
    with pytest.raises(click.BadParameter, match="longer than zero"):
        trigger_from_flags(None, timedelta(0), None)
    with pytest.raises(click.BadParameter, match="not crontab text"):
        trigger_from_flags("5", None, None)
