"""IntervalTrigger: elapsed time from start_date, immune to DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dueq.shared.errors import InvalidTriggerError
from dueq.shared.triggers import IntervalTrigger

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


def _fires(trigger: IntervalTrigger, now: datetime, count: int) -> list[datetime]:
    found: list[datetime] = []
    previous = None
    while len(found) < count:
        previous = trigger.get_next_fire_time(previous, now)
        if previous is None:
            break
        found.append(previous)
    return found


def test_first_fire_is_start_date_when_now_is_before_it() -> None:
    start = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    trigger = IntervalTrigger(minutes=10, start_date=start)

    assert trigger.get_next_fire_time(None, start - timedelta(days=1)) == start


def test_first_fire_is_the_smallest_step_from_start_at_or_after_now() -> None:
    start = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    trigger = IntervalTrigger(minutes=10, start_date=start)

    assert trigger.get_next_fire_time(None, start + timedelta(minutes=25)) == start + timedelta(
        minutes=30
    )
    assert trigger.get_next_fire_time(None, start + timedelta(minutes=30)) == start + timedelta(
        minutes=30
    )


def test_next_fire_is_previous_plus_interval_however_late_now_is() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    trigger = IntervalTrigger(hours=1, start_date=start)

    fire = trigger.get_next_fire_time(start, start + timedelta(days=3))

    assert fire == start + timedelta(hours=1)


def test_start_date_defaults_to_one_interval_from_now() -> None:
    before = datetime.now(UTC)
    trigger = IntervalTrigger(seconds=30)
    after = datetime.now(UTC)

    assert before + timedelta(seconds=30) <= trigger.start_date <= after + timedelta(seconds=30)


def test_all_parts_add_up() -> None:
    trigger = IntervalTrigger(weeks=1, days=2, hours=3, minutes=4, seconds=5.5)

    assert trigger.interval == timedelta(days=9, hours=3, minutes=4, seconds=5.5)
    assert trigger.interval_length == trigger.interval.total_seconds()


def test_hourly_interval_counts_elapsed_time_across_the_new_york_spring_gap() -> None:
    trigger = IntervalTrigger(hours=1, start_date=datetime(2013, 3, 1, tzinfo=NEW_YORK))

    fires = _fires(trigger, datetime(2013, 3, 10, 0, 5, tzinfo=NEW_YORK), 3)

    assert [fire.isoformat() for fire in fires] == [
        "2013-03-10T01:00:00-05:00",
        "2013-03-10T03:00:00-04:00",
        "2013-03-10T04:00:00-04:00",
    ]


def test_hourly_interval_fires_at_both_0100s_of_the_new_york_fall_back() -> None:
    trigger = IntervalTrigger(hours=1, start_date=datetime(2013, 3, 1, tzinfo=NEW_YORK))

    fires = _fires(trigger, datetime(2013, 11, 3, 0, 5, tzinfo=NEW_YORK), 3)

    assert [fire.isoformat() for fire in fires] == [
        "2013-11-03T01:00:00-04:00",
        "2013-11-03T01:00:00-05:00",
        "2013-11-03T02:00:00-05:00",
    ]


def test_daily_interval_is_24_hours_so_the_wall_clock_moves_with_dst() -> None:
    trigger = IntervalTrigger(days=1, start_date=datetime(2024, 3, 30, 12, 0, tzinfo=BERLIN))

    fires = _fires(trigger, datetime(2024, 3, 30, tzinfo=BERLIN), 2)

    assert [fire.isoformat() for fire in fires] == [
        "2024-03-30T12:00:00+01:00",
        "2024-03-31T13:00:00+02:00",
    ]
    # Subtract in UTC: Python subtracts two datetimes sharing a zone by their wall clocks.
    assert fires[1].astimezone(UTC) - fires[0].astimezone(UTC) == timedelta(hours=24)


def test_end_date_is_inclusive() -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    trigger = IntervalTrigger(hours=1, start_date=start, end_date=start + timedelta(hours=2))

    fires = _fires(trigger, start, 10)

    assert fires == [start, start + timedelta(hours=1), start + timedelta(hours=2)]


def test_fire_times_are_in_the_trigger_zone() -> None:
    trigger = IntervalTrigger(hours=1, start_date="2024-01-01T00:00:00", timezone="Asia/Tokyo")

    fire = trigger.get_next_fire_time(None, datetime(2023, 12, 31, 15, 0, tzinfo=UTC))

    assert fire is not None
    assert fire.isoformat() == "2024-01-01T00:00:00+09:00"


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({}, "interval"),
        ({"seconds": 0}, "interval"),
        ({"minutes": -5}, "minutes"),
        ({"hours": "1"}, "hours"),
        ({"days": True}, "days"),
        ({"seconds": float("nan")}, "seconds"),
        ({"weeks": 1e12}, "interval"),
        ({"seconds": 1, "start_date": "tomorrow"}, "start_date"),
        ({"seconds": 1, "timezone": "Mars/Olympus"}, "timezone"),
        ({"seconds": 1, "jitter": "lots"}, "jitter"),
    ],
)
def test_bad_arguments_raise_naming_the_field(arguments: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidTriggerError) as caught:
        IntervalTrigger(**arguments)  # type: ignore[arg-type]  # deliberately bad values

    assert caught.value.field == field
    assert field in str(caught.value)


def test_str_and_repr_show_the_interval() -> None:
    trigger = IntervalTrigger(seconds=30, start_date="2024-01-01T00:00:00+00:00")

    assert str(trigger) == "interval[0:00:30]"
    assert repr(trigger) == (
        "<IntervalTrigger (interval=datetime.timedelta(seconds=30),"
        " start_date='2024-01-01T00:00:00+00:00', timezone='UTC')>"
    )
