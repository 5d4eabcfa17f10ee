"""CronTrigger's walk through the calendar: leap days, month ends, weeks, dates, zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dueq.shared.triggers import CronTrigger

BERLIN = ZoneInfo("Europe/Berlin")
TOKYO = ZoneInfo("Asia/Tokyo")


def _fires(trigger: CronTrigger, now: datetime, count: int) -> list[datetime]:
    found: list[datetime] = []
    previous = None
    while len(found) < count:
        previous = trigger.get_next_fire_time(previous, now)
        if previous is None:
            break
        found.append(previous)
    return found


def _days(fires: list[datetime]) -> list[str]:
    return [fire.date().isoformat() for fire in fires]


def test_day_29_of_february_fires_only_in_leap_years() -> None:
    trigger = CronTrigger(month=2, day=29)

    fires = _fires(trigger, datetime(2021, 1, 1, tzinfo=UTC), 3)

    assert _days(fires) == ["2024-02-29", "2028-02-29", "2032-02-29"]


def test_century_years_are_leap_only_when_divisible_by_400() -> None:
    fires = _fires(CronTrigger(month=2, day=29), datetime(2096, 3, 1, tzinfo=UTC), 2)

    assert _days(fires) == ["2104-02-29", "2108-02-29"]


def test_last_day_of_february_follows_leap_years() -> None:
    fires = _fires(CronTrigger(month=2, day="last"), datetime(2023, 1, 1, tzinfo=UTC), 3)

    assert _days(fires) == ["2023-02-28", "2024-02-29", "2025-02-28"]


def test_last_day_of_every_month() -> None:
    fires = _fires(CronTrigger(day="last"), datetime(2024, 1, 1, tzinfo=UTC), 4)

    assert _days(fires) == ["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30"]


def test_day_31_skips_months_without_one() -> None:
    fires = _fires(CronTrigger(day=31), datetime(2024, 1, 1, tzinfo=UTC), 4)

    assert _days(fires) == ["2024-01-31", "2024-03-31", "2024-05-31", "2024-07-31"]


def test_day_30_skips_february() -> None:
    fires = _fires(CronTrigger(day=30), datetime(2024, 1, 15, tzinfo=UTC), 2)

    assert _days(fires) == ["2024-01-30", "2024-03-30"]


def test_day_range_beyond_the_month_end_stops_at_the_month_end() -> None:
    fires = _fires(CronTrigger(month=2, day="27-31"), datetime(2023, 1, 1, tzinfo=UTC), 3)

    assert _days(fires) == ["2023-02-27", "2023-02-28", "2024-02-27"]


def test_second_monday_of_each_month() -> None:
    fires = _fires(CronTrigger(day="2nd mon"), datetime(2024, 1, 1, tzinfo=UTC), 3)

    assert _days(fires) == ["2024-01-08", "2024-02-12", "2024-03-11"]


def test_fifth_friday_fires_only_in_months_that_have_one() -> None:
    fires = _fires(CronTrigger(day="5th fri"), datetime(2024, 1, 1, tzinfo=UTC), 3)

    assert _days(fires) == ["2024-03-29", "2024-05-31", "2024-08-30"]


def test_last_friday_of_each_month() -> None:
    fires = _fires(CronTrigger(day="last fri"), datetime(2024, 1, 1, tzinfo=UTC), 3)

    assert _days(fires) == ["2024-01-26", "2024-02-23", "2024-03-29"]


def test_day_positions_combine_with_plain_days_in_a_list() -> None:
    fires = _fires(CronTrigger(day="1,last sun"), datetime(2024, 1, 2, tzinfo=UTC), 3)

    assert _days(fires) == ["2024-01-28", "2024-02-01", "2024-02-25"]


def test_iso_week_1_can_start_in_the_previous_year() -> None:
    trigger = CronTrigger(week=1, day_of_week="mon")

    fires = _fires(trigger, datetime(2024, 6, 1, tzinfo=UTC), 3)

    assert _days(fires) == ["2024-12-30", "2025-12-29", "2027-01-04"]


def test_iso_week_53_exists_only_in_long_years() -> None:
    fires = _fires(CronTrigger(week=53, day_of_week="thu"), datetime(2021, 1, 15, tzinfo=UTC), 2)

    assert _days(fires) == ["2026-12-31", "2032-12-30"]


def test_every_other_iso_week() -> None:
    fires = _fires(CronTrigger(week="*/2", day_of_week="mon"), datetime(2024, 1, 1, tzinfo=UTC), 3)

    assert _days(fires) == ["2024-01-01", "2024-01-15", "2024-01-29"]


def test_year_field_limits_the_years() -> None:
    fires = _fires(CronTrigger(year="2025,2027", month=3), datetime(2024, 1, 1, tzinfo=UTC), 3)

    assert _days(fires) == ["2025-03-01", "2027-03-01"]


def test_fields_are_all_anded() -> None:
    trigger = CronTrigger(day=13, day_of_week="fri")

    fires = _fires(trigger, datetime(2024, 1, 1, tzinfo=UTC), 2)

    assert _days(fires) == ["2024-09-13", "2024-12-13"]


def test_an_impossible_date_is_exhausted_at_once() -> None:
    assert CronTrigger(month=2, day=30).get_next_fire_time(None, datetime.now(UTC)) is None


def test_now_itself_may_fire() -> None:
    now = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)

    assert CronTrigger(minute=0).get_next_fire_time(None, now) == now


def test_now_with_microseconds_is_rounded_up_to_the_next_second() -> None:
    now = datetime(2024, 1, 1, 12, 0, 0, 1, tzinfo=UTC)

    fire = CronTrigger(second="*").get_next_fire_time(None, now)

    assert fire == datetime(2024, 1, 1, 12, 0, 1, tzinfo=UTC)


def test_previous_fire_time_walk_lists_every_missed_time() -> None:
    trigger = CronTrigger(minute="*/15")
    now = datetime(2024, 1, 1, 1, 0, tzinfo=UTC)

    fires = _fires(trigger, now, 3)
    after_downtime = trigger.get_next_fire_time(datetime(2024, 1, 1, 0, 0, tzinfo=UTC), now)

    assert [fire.strftime("%H:%M") for fire in fires] == ["01:00", "01:15", "01:30"]
    assert after_downtime == datetime(2024, 1, 1, 0, 15, tzinfo=UTC)


def test_start_date_is_inclusive() -> None:
    start = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    trigger = CronTrigger(hour=9, start_date=start)

    assert trigger.get_next_fire_time(None, datetime(2024, 1, 1, tzinfo=UTC)) == start


def test_end_date_is_inclusive_and_then_the_trigger_is_exhausted() -> None:
    end = datetime(2024, 1, 3, 9, 0, tzinfo=UTC)
    trigger = CronTrigger(hour=9, end_date=end)

    fires = _fires(trigger, datetime(2024, 1, 1, tzinfo=UTC), 10)

    assert _days(fires) == ["2024-01-01", "2024-01-02", "2024-01-03"]
    assert trigger.get_next_fire_time(fires[-1], fires[-1]) is None


def test_start_date_in_another_zone_is_the_same_instant_in_the_trigger_zone() -> None:
    start = datetime(2024, 1, 1, 8, 0, tzinfo=TOKYO)  # 2023-12-31 23:00 UTC, 00:00 Berlin
    trigger = CronTrigger(hour=0, timezone="Europe/Berlin", start_date=start)

    fire = trigger.get_next_fire_time(None, datetime(2023, 1, 1, tzinfo=UTC))

    assert trigger.start_date == datetime(2024, 1, 1, 0, 0, tzinfo=BERLIN)
    assert fire == datetime(2024, 1, 1, 0, 0, tzinfo=BERLIN)
    assert fire is not None
    assert fire.tzinfo == BERLIN


def test_aware_start_date_gives_its_zone_when_none_is_named() -> None:
    trigger = CronTrigger(hour=9, start_date=datetime(2024, 1, 1, tzinfo=TOKYO))

    assert trigger.timezone == TOKYO


def test_naive_start_date_is_read_in_the_trigger_zone() -> None:
    trigger = CronTrigger(hour=9, start_date=datetime(2024, 7, 1, 12, 0), timezone="Europe/Berlin")

    assert trigger.start_date == datetime(2024, 7, 1, 10, 0, tzinfo=UTC)


def test_now_in_another_zone_is_compared_as_an_instant() -> None:
    trigger = CronTrigger(hour=9, timezone="Europe/Berlin")
    now = datetime(2024, 1, 1, 17, 30, tzinfo=TOKYO)  # 09:30 Berlin: today's 09:00 is past

    fire = trigger.get_next_fire_time(None, now)

    assert fire == datetime(2024, 1, 2, 9, 0, tzinfo=BERLIN)


def test_previous_fire_time_in_another_zone_is_compared_as_an_instant() -> None:
    trigger = CronTrigger(minute=0, timezone="Europe/Berlin")
    previous = datetime(2024, 1, 1, 17, 0, tzinfo=TOKYO)  # 09:00 Berlin

    fire = trigger.get_next_fire_time(previous, previous)

    assert fire == datetime(2024, 1, 1, 10, 0, tzinfo=BERLIN)


def test_fire_times_are_in_the_trigger_zone() -> None:
    fire = CronTrigger(hour=9, timezone="Asia/Tokyo").get_next_fire_time(None, datetime.now(UTC))

    assert fire is not None
    assert fire.tzinfo == TOKYO


def test_results_strictly_increase_even_when_now_is_behind_the_previous_fire() -> None:
    trigger = CronTrigger(minute="*/5")
    previous = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)

    fire = trigger.get_next_fire_time(previous, previous - timedelta(hours=1))

    assert fire == previous + timedelta(minutes=5)


def test_matches_tells_whether_a_wall_time_is_in_the_schedule() -> None:
    trigger = CronTrigger(day_of_week="mon-fri", hour="9-17", timezone="Europe/Berlin")

    assert trigger.matches(datetime(2024, 1, 1, 9, 0))
    assert not trigger.matches(datetime(2024, 1, 6, 9, 0))
    assert trigger.matches(datetime(2024, 1, 1, 8, 0, tzinfo=UTC))  # 09:00 in Berlin
