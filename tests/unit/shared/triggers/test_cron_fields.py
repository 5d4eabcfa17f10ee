"""CronTrigger's field language: defaults, accepted expressions and refused ones."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dueq.shared.errors import InvalidTriggerError
from dueq.shared.triggers import CronTrigger

NOW = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday


def _fires(trigger: CronTrigger, count: int, now: datetime = NOW) -> list[str]:
    found: list[str] = []
    previous = None
    for _ in range(count):
        previous = trigger.get_next_fire_time(previous, now)
        assert previous is not None
        found.append(previous.strftime("%Y-%m-%d %a %H:%M:%S"))
    return found


def _expressions(trigger: CronTrigger) -> dict[str, str]:
    return {field.name: field.expression for field in trigger.fields}


def test_fields_below_the_least_significant_given_one_default_to_their_minimum() -> None:
    trigger = CronTrigger(day=15)

    assert _expressions(trigger) == {
        "year": "*",
        "month": "*",
        "day": "15",
        "week": "*",
        "day_of_week": "*",
        "hour": "0",
        "minute": "0",
        "second": "0",
    }


def test_fields_above_the_least_significant_given_one_default_to_star() -> None:
    trigger = CronTrigger(month=6, minute=5)

    assert _expressions(trigger)["day"] == "*"
    assert _expressions(trigger)["hour"] == "*"
    assert _expressions(trigger)["second"] == "0"


def test_month_alone_fires_at_midnight_on_the_first_of_that_month() -> None:
    assert _fires(CronTrigger(month=6), 2) == ["2024-06-01 Sat 00:00:00", "2025-06-01 Sun 00:00:00"]


def test_no_fields_at_all_fires_every_second_as_in_apscheduler() -> None:
    assert _fires(CronTrigger(), 2) == ["2024-01-01 Mon 00:00:00", "2024-01-01 Mon 00:00:01"]


def test_str_shows_only_the_given_fields() -> None:
    assert str(CronTrigger(minute="*/5")) == "cron[minute='*/5']"
    assert (
        str(CronTrigger(day_of_week="MON-Fri", hour=9)) == "cron[day_of_week='mon-fri', hour='9']"
    )


def test_repr_names_the_zone_and_the_dates() -> None:
    trigger = CronTrigger(hour=3, start_date="2024-01-01", timezone="Europe/Berlin", jitter=5)

    assert repr(trigger) == (
        "<CronTrigger (hour='3', start_date='2024-01-01T00:00:00+01:00', jitter=5.0,"
        " timezone='Europe/Berlin')>"
    )


def test_integer_field_values_are_accepted() -> None:
    assert _fires(CronTrigger(hour=7, minute=45), 1) == ["2024-01-01 Mon 07:45:00"]


def test_comma_lists_may_mix_ranges_steps_and_single_values() -> None:
    trigger = CronTrigger(minute="0-10/5, 30 ,58-59")

    assert str(trigger) == "cron[minute='0-10/5,30,58-59']"
    assert [fire[-8:-3] for fire in _fires(trigger, 7)] == [
        "00:00",
        "00:05",
        "00:10",
        "00:30",
        "00:58",
        "00:59",
        "01:00",
    ]


def test_a_value_with_a_step_runs_to_the_end_of_the_range() -> None:
    assert [f[-8:-3] for f in _fires(CronTrigger(minute="50/4"), 4)] == [
        "00:50",
        "00:54",
        "00:58",
        "01:50",
    ]


def test_numeric_day_of_week_counts_from_monday_zero() -> None:
    assert _fires(CronTrigger(day_of_week=0), 1) == ["2024-01-01 Mon 00:00:00"]
    assert _fires(CronTrigger(day_of_week=6), 1) == ["2024-01-07 Sun 00:00:00"]


def test_star_step_on_day_of_week_starts_at_monday() -> None:
    days = [fire[11:14] for fire in _fires(CronTrigger(day_of_week="*/2"), 4)]

    assert days == ["Mon", "Wed", "Fri", "Sun"]


def test_step_on_a_named_weekday_range_is_applied() -> None:
    days = [fire[11:14] for fire in _fires(CronTrigger(day_of_week="mon-fri/2"), 4)]

    assert days == ["Mon", "Wed", "Fri", "Mon"]


def test_step_on_a_named_month_range_is_applied() -> None:
    months = [fire[:7] for fire in _fires(CronTrigger(month="jan-dec/3"), 5)]

    assert months == ["2024-01", "2024-04", "2024-07", "2024-10", "2025-01"]


def test_weekday_range_may_wrap_around_the_end_of_the_week() -> None:
    days = [fire[11:14] for fire in _fires(CronTrigger(day_of_week="fri-mon"), 4)]

    assert days == ["Mon", "Fri", "Sat", "Sun"]


def test_names_are_case_insensitive() -> None:
    assert str(CronTrigger(month="JAN,Jul")) == "cron[month='jan,jul']"


@pytest.mark.parametrize(
    ("arguments", "field", "text"),
    [
        ({"minute": "61"}, "minute", "61"),
        ({"minute": 60}, "minute", "60"),
        ({"hour": "24"}, "hour", "24"),
        ({"second": "-1"}, "second", "-1"),
        ({"day": "0"}, "day", "0"),
        ({"day": "32"}, "day", "32"),
        ({"month": "13"}, "month", "13"),
        ({"month": "foo"}, "month", "foo"),
        ({"week": "54"}, "week", "54"),
        ({"year": "1969"}, "year", "1969"),
        ({"day_of_week": "7"}, "day_of_week", "7"),
        ({"day_of_week": "funday"}, "day_of_week", "funday"),
        ({"minute": "*/0"}, "minute", "*/0"),
        ({"minute": "*/60"}, "minute", "*/60"),
        ({"hour": "5-3"}, "hour", "5-3"),
        ({"month": "dec-jan"}, "month", "dec-jan"),
        ({"minute": "1,,2"}, "minute", "1,,2"),
        ({"minute": "mon"}, "minute", "mon"),
        ({"minute": "last"}, "minute", "last"),
        ({"day": "6th mon"}, "day", "6th mon"),
        ({"day": "2nd funday"}, "day", "2nd funday"),
        ({"hour": "2nd mon"}, "hour", "2nd mon"),
        ({"minute": 1.5}, "minute", "1.5"),
        ({"minute": True}, "minute", "True"),
        ({"minute": ""}, "minute", ""),
    ],
)
def test_bad_field_raises_naming_the_field_and_the_text(
    arguments: dict[str, object], field: str, text: str
) -> None:
    with pytest.raises(InvalidTriggerError) as caught:
        CronTrigger(**arguments)  # type: ignore[arg-type]  # deliberately bad values

    assert caught.value.field == field
    assert field in str(caught.value)
    assert text in str(caught.value)


def test_invalid_trigger_error_is_a_value_error_for_apscheduler_code() -> None:
    with pytest.raises(ValueError, match="minute"):
        CronTrigger(minute="61")


def test_bad_jitter_is_refused_naming_jitter() -> None:
    with pytest.raises(InvalidTriggerError, match="jitter"):
        CronTrigger(hour=1, jitter=-1)


def test_bad_start_date_text_is_refused_naming_start_date() -> None:
    with pytest.raises(InvalidTriggerError, match=r"start_date.*'yesterday'"):
        CronTrigger(hour=1, start_date="yesterday")


def test_non_boolean_day_or_is_refused() -> None:
    with pytest.raises(InvalidTriggerError, match="day_or"):
        CronTrigger(hour=1, day_or="yes")  # type: ignore[arg-type]  # deliberately wrong
