"""CalendarIntervalTrigger: every N years/months/weeks/days at a wall-clock time."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from dueq.shared.errors import InvalidTriggerError
from dueq.shared.triggers import CalendarIntervalTrigger

BERLIN = ZoneInfo("Europe/Berlin")
TOKYO = ZoneInfo("Asia/Tokyo")
EARLY = datetime(2000, 1, 1, tzinfo=UTC)


def _fires(trigger: CalendarIntervalTrigger, now: datetime, count: int) -> list[str]:
    found: list[str] = []
    previous = None
    while len(found) < count:
        previous = trigger.get_next_fire_time(previous, now)
        if previous is None:
            break
        found.append(previous.isoformat())
    return found


def test_monthly_from_the_31st_skips_months_without_a_31st() -> None:
    trigger = CalendarIntervalTrigger(months=1, hour=9, start_date="2024-01-31", timezone="UTC")

    assert [fire[:10] for fire in _fires(trigger, EARLY, 4)] == [
        "2024-01-31",
        "2024-03-31",
        "2024-05-31",
        "2024-07-31",
    ]


def test_yearly_from_february_29_fires_only_in_leap_years() -> None:
    trigger = CalendarIntervalTrigger(years=1, start_date="2024-02-29", timezone="UTC")

    assert [fire[:10] for fire in _fires(trigger, EARLY, 3)] == [
        "2024-02-29",
        "2028-02-29",
        "2032-02-29",
    ]


def test_every_two_weeks_keeps_the_weekday_and_the_wall_time_through_dst() -> None:
    trigger = CalendarIntervalTrigger(
        weeks=2, hour=12, start_date="2024-03-18", timezone="Europe/Berlin"
    )

    assert _fires(trigger, EARLY, 3) == [
        "2024-03-18T12:00:00+01:00",
        "2024-04-01T12:00:00+02:00",
        "2024-04-15T12:00:00+02:00",
    ]


def test_months_are_added_before_days() -> None:
    trigger = CalendarIntervalTrigger(months=1, days=1, start_date="2024-01-31", timezone="UTC")

    # Jan 31 + 1 month does not exist, Mar 31 does; + 1 day is Apr 1; then May 1 + 1 day.
    assert [fire[:10] for fire in _fires(trigger, EARLY, 3)] == [
        "2024-01-31",
        "2024-04-01",
        "2024-05-02",
    ]


def test_first_fire_is_the_first_date_of_the_sequence_not_before_now() -> None:
    trigger = CalendarIntervalTrigger(days=3, hour=8, start_date="2024-01-01", timezone="UTC")

    now = datetime(2024, 1, 7, 8, 0, 1, tzinfo=UTC)

    assert _fires(trigger, now, 1) == ["2024-01-10T08:00:00+00:00"]


def test_first_fire_for_a_monthly_sequence_long_after_the_start() -> None:
    trigger = CalendarIntervalTrigger(months=1, start_date="2020-01-31", timezone="UTC")

    assert _fires(trigger, datetime(2024, 2, 1, tzinfo=UTC), 1) == ["2024-03-31T00:00:00+00:00"]


def test_now_at_the_fire_time_fires_then() -> None:
    trigger = CalendarIntervalTrigger(days=1, hour=8, start_date="2024-01-01", timezone="UTC")

    assert _fires(trigger, datetime(2024, 1, 5, 8, 0, tzinfo=UTC), 1) == [
        "2024-01-05T08:00:00+00:00"
    ]


def test_time_in_the_berlin_gap_fires_once_moved_forward() -> None:
    trigger = CalendarIntervalTrigger(
        days=1, hour=2, minute=30, start_date="2024-03-30", timezone="Europe/Berlin"
    )

    assert _fires(trigger, EARLY, 3) == [
        "2024-03-30T02:30:00+01:00",
        "2024-03-31T03:30:00+02:00",
        "2024-04-01T02:30:00+02:00",
    ]


def test_time_in_the_berlin_fold_fires_once_at_the_first_occurrence() -> None:
    trigger = CalendarIntervalTrigger(
        days=1, hour=2, minute=30, start_date="2024-10-26", timezone="Europe/Berlin"
    )

    assert _fires(trigger, EARLY, 3) == [
        "2024-10-26T02:30:00+02:00",
        "2024-10-27T02:30:00+02:00",
        "2024-10-28T02:30:00+01:00",
    ]


def test_end_date_is_the_last_date_included() -> None:
    trigger = CalendarIntervalTrigger(
        days=1, hour=23, start_date="2024-01-01", end_date="2024-01-03", timezone="UTC"
    )

    assert [fire[:10] for fire in _fires(trigger, EARLY, 10)] == [
        "2024-01-01",
        "2024-01-02",
        "2024-01-03",
    ]


def test_start_date_datetime_in_another_zone_gives_its_date_in_the_trigger_zone() -> None:
    start = datetime(2024, 1, 2, 5, 0, tzinfo=TOKYO)  # still Jan 1 in Berlin
    trigger = CalendarIntervalTrigger(days=1, start_date=start, timezone="Europe/Berlin")

    assert trigger.start_date == date(2024, 1, 1)


def test_aware_start_date_gives_the_zone_when_none_is_named() -> None:
    trigger = CalendarIntervalTrigger(days=1, start_date=datetime(2024, 1, 2, tzinfo=TOKYO))

    assert trigger.timezone == TOKYO


def test_start_date_defaults_to_today_in_the_zone() -> None:
    trigger = CalendarIntervalTrigger(days=1, timezone="Asia/Tokyo")

    assert trigger.start_date in {datetime.now(TOKYO).date(), datetime.now(UTC).date()}


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({}, "interval"),
        ({"days": -1}, "days"),
        ({"months": 1.5}, "months"),
        ({"days": 1, "hour": 24}, "hour"),
        ({"days": 1, "minute": 60}, "minute"),
        ({"days": 1, "second": -1}, "second"),
        ({"days": 1, "start_date": "someday"}, "start_date"),
        ({"days": 1, "start_date": "2024-02-01", "end_date": "2024-01-01"}, "end_date"),
        ({"days": 1, "jitter": -3}, "jitter"),
    ],
)
def test_bad_arguments_raise_naming_the_field(arguments: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidTriggerError) as caught:
        CalendarIntervalTrigger(**arguments)  # type: ignore[arg-type]  # deliberately bad

    assert caught.value.field == field


def test_str_and_repr_show_steps_and_time() -> None:
    trigger = CalendarIntervalTrigger(
        months=1, hour=9, start_date="2024-01-31", timezone="Europe/Berlin"
    )

    assert str(trigger) == "calendarinterval[months=1, time='09:00:00']"
    assert repr(trigger) == (
        "<CalendarIntervalTrigger (months=1, time='09:00:00', start_date='2024-01-31',"
        " timezone='Europe/Berlin')>"
    )
