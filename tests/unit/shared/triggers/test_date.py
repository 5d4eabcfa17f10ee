"""DateTrigger: fires once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dueq.shared.errors import InvalidTriggerError
from dueq.shared.triggers import DateTrigger

BERLIN = ZoneInfo("Europe/Berlin")


def test_fires_once_at_run_date() -> None:
    run_date = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
    trigger = DateTrigger(run_date)

    assert trigger.get_next_fire_time(None, run_date - timedelta(days=1)) == run_date
    assert trigger.get_next_fire_time(run_date, run_date) is None


def test_past_run_date_is_still_returned_the_first_time() -> None:
    run_date = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)

    assert DateTrigger(run_date).get_next_fire_time(None, run_date + timedelta(days=1)) == run_date


def test_run_date_defaults_to_now() -> None:
    before = datetime.now(UTC)
    trigger = DateTrigger()

    assert before <= trigger.run_date <= datetime.now(UTC)


def test_naive_run_date_is_read_in_the_given_zone() -> None:
    trigger = DateTrigger("2024-06-01T12:00:00", timezone="Europe/Berlin")

    assert trigger.run_date == datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
    assert trigger.run_date.tzinfo == BERLIN


def test_aware_run_date_gives_the_zone() -> None:
    assert DateTrigger(datetime(2024, 6, 1, tzinfo=BERLIN)).timezone == BERLIN


def test_run_date_with_a_fixed_offset_keeps_the_instant_in_utc() -> None:
    trigger = DateTrigger("2024-06-01T12:00:00+02:00")

    assert trigger.timezone.key == "UTC"
    assert trigger.run_date == datetime(2024, 6, 1, 10, 0, tzinfo=UTC)


def test_bad_run_date_names_run_date() -> None:
    with pytest.raises(InvalidTriggerError, match=r"run_date.*'soon'"):
        DateTrigger("soon")


def test_naive_now_is_refused() -> None:
    with pytest.raises(InvalidTriggerError, match="now"):
        DateTrigger().get_next_fire_time(None, datetime(2024, 1, 1))


def test_str_shows_the_run_date() -> None:
    trigger = DateTrigger("2024-06-01T12:00:00", timezone="Europe/Berlin")

    assert str(trigger) == "date[2024-06-01T12:00:00+02:00]"
    assert repr(trigger) == (
        "<DateTrigger (run_date='2024-06-01T12:00:00+02:00', timezone='Europe/Berlin')>"
    )
