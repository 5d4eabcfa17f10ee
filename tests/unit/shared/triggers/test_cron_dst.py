"""The DST policy of CronTrigger in Europe/Berlin, America/New_York and Europe/Helsinki.

Gap times fire once, moved forward by the gap; fold times fire once, at their first
occurrence, except when every hour is allowed, which keeps an absolute cadence.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from dueq.shared.triggers import CronTrigger

BERLIN = ZoneInfo("Europe/Berlin")  # 2024-03-31 02:00 -> 03:00, 2024-10-27 03:00 -> 02:00
NEW_YORK = ZoneInfo("America/New_York")  # 2013-03-10 02:00 -> 03:00, 2013-11-03 02:00 -> 01:00
HELSINKI = ZoneInfo("Europe/Helsinki")  # 2024-03-31 03:00 -> 04:00, 2024-10-27 04:00 -> 03:00
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")  # 2024-10-06 02:00 -> 02:30 (a 30-minute gap)


def _fires(trigger: CronTrigger, now: datetime, count: int) -> list[str]:
    found: list[str] = []
    previous = None
    while len(found) < count:
        previous = trigger.get_next_fire_time(previous, now)
        assert previous is not None
        found.append(previous.isoformat())
    return found


# Europe/Berlin


def test_daily_0230_fires_once_moved_forward_on_berlin_spring_forward_day() -> None:
    trigger = CronTrigger(hour=2, minute=30, timezone="Europe/Berlin")

    fires = _fires(trigger, datetime(2024, 3, 30, 3, 0, tzinfo=BERLIN), 3)

    assert fires == [
        "2024-03-31T03:30:00+02:00",  # 02:30 does not exist; the same instant as 01:30Z
        "2024-04-01T02:30:00+02:00",
        "2024-04-02T02:30:00+02:00",
    ]


def test_moved_berlin_gap_time_is_the_instant_0130_utc() -> None:
    trigger = CronTrigger(hour=2, minute=30, timezone="Europe/Berlin")

    fire = trigger.get_next_fire_time(None, datetime(2024, 3, 31, tzinfo=BERLIN))

    assert fire == datetime(2024, 3, 31, 1, 30, tzinfo=UTC)


def test_daily_0230_fires_once_on_berlin_fall_back_day() -> None:
    trigger = CronTrigger(hour=2, minute=30, timezone="Europe/Berlin")

    fires = _fires(trigger, datetime(2024, 10, 26, 3, 0, tzinfo=BERLIN), 3)

    assert fires == [
        "2024-10-27T02:30:00+02:00",  # the first 02:30 only; APScheduler runs both
        "2024-10-28T02:30:00+01:00",
        "2024-10-29T02:30:00+01:00",
    ]


def test_minute_30_of_every_hour_fires_once_across_the_berlin_gap() -> None:
    trigger = CronTrigger(minute=30, timezone="Europe/Berlin")

    fires = _fires(trigger, datetime(2024, 3, 31, 0, 0, tzinfo=BERLIN), 4)

    # The moved 02:30 and the real 03:30 are one instant (01:30Z): one fire, an hour apart.
    assert fires == [
        "2024-03-31T00:30:00+01:00",
        "2024-03-31T01:30:00+01:00",
        "2024-03-31T03:30:00+02:00",
        "2024-03-31T04:30:00+02:00",
    ]


def test_hourly_keeps_absolute_cadence_through_the_berlin_fold() -> None:
    trigger = CronTrigger(minute=0, timezone="Europe/Berlin")

    fires = _fires(trigger, datetime(2024, 10, 27, 1, 30, tzinfo=BERLIN), 3)

    assert fires == [
        "2024-10-27T02:00:00+02:00",
        "2024-10-27T02:00:00+01:00",
        "2024-10-27T03:00:00+01:00",
    ]


def test_every_30_minutes_fires_in_both_passes_of_the_berlin_fold() -> None:
    trigger = CronTrigger(minute="*/30", timezone="Europe/Berlin")

    fires = _fires(trigger, datetime(2024, 10, 27, 1, 35, tzinfo=BERLIN), 5)

    assert fires == [
        "2024-10-27T02:00:00+02:00",
        "2024-10-27T02:30:00+02:00",
        "2024-10-27T02:00:00+01:00",
        "2024-10-27T02:30:00+01:00",
        "2024-10-27T03:00:00+01:00",
    ]


def test_every_minute_of_hour_2_fires_only_in_the_first_pass_of_the_berlin_fold() -> None:
    trigger = CronTrigger(hour=2, minute="*", timezone="Europe/Berlin")

    fires = _fires(trigger, datetime(2024, 10, 27, 1, 59, tzinfo=BERLIN), 61)

    assert fires[0] == "2024-10-27T02:00:00+02:00"
    assert fires[59] == "2024-10-27T02:59:00+02:00"
    assert fires[60] == "2024-10-28T02:00:00+01:00"


def test_now_in_the_second_pass_of_a_fold_waits_for_the_next_day() -> None:
    trigger = CronTrigger(hour=2, minute="*/15", timezone="Europe/Berlin")
    now = datetime(2024, 10, 27, 1, 10, tzinfo=UTC)  # 02:10 CET, the second 02:10

    assert _fires(trigger, now, 1) == ["2024-10-28T02:00:00+01:00"]


def test_now_in_the_second_pass_of_a_fold_fires_there_when_every_hour_is_allowed() -> None:
    trigger = CronTrigger(minute="*/15", timezone="Europe/Berlin")
    now = datetime(2024, 10, 27, 1, 10, tzinfo=UTC)  # 02:10 CET, the second 02:10

    assert _fires(trigger, now, 1) == ["2024-10-27T02:15:00+01:00"]


def test_naive_start_date_in_the_berlin_gap_moves_forward() -> None:
    trigger = CronTrigger(minute="*", start_date="2024-03-31T02:30:00", timezone="Europe/Berlin")

    assert trigger.start_date is not None
    assert trigger.start_date.isoformat() == "2024-03-31T03:30:00+02:00"


# America/New_York


def test_hour_2_in_the_new_york_spring_gap_fires_at_0300_edt() -> None:
    trigger = CronTrigger(hour=2, timezone="America/New_York")

    fires = _fires(trigger, datetime(2013, 3, 9, 20, 0, tzinfo=NEW_YORK), 2)

    assert fires == ["2013-03-10T03:00:00-04:00", "2013-03-11T02:00:00-04:00"]


def test_every_30_minutes_across_the_new_york_gap_skips_no_instant() -> None:
    trigger = CronTrigger(minute="*/30", timezone="America/New_York")

    fires = _fires(trigger, datetime(2013, 3, 10, 1, 35, tzinfo=NEW_YORK), 3)

    # 02:00 and 02:30 EST do not exist; moved, they are 03:00 and 03:30 EDT.
    assert fires == [
        "2013-03-10T03:00:00-04:00",
        "2013-03-10T03:30:00-04:00",
        "2013-03-10T04:00:00-04:00",
    ]


def test_0130_fires_once_on_new_york_fall_back_day() -> None:
    trigger = CronTrigger(hour=1, minute=30, timezone="America/New_York")

    fires = _fires(trigger, datetime(2013, 11, 2, 20, 0, tzinfo=NEW_YORK), 2)

    assert fires == ["2013-11-03T01:30:00-04:00", "2013-11-04T01:30:00-05:00"]


def test_hourly_fires_at_both_new_york_0100s() -> None:
    trigger = CronTrigger(minute=0, timezone="America/New_York")

    fires = _fires(trigger, datetime(2013, 11, 3, 0, 30, tzinfo=NEW_YORK), 3)

    assert fires == [
        "2013-11-03T01:00:00-04:00",
        "2013-11-03T01:00:00-05:00",
        "2013-11-03T02:00:00-05:00",
    ]


# Europe/Helsinki


def test_0330_on_helsinki_spring_forward_day_fires_at_0430_eest() -> None:
    trigger = CronTrigger(hour=3, minute=30, timezone="Europe/Helsinki")

    fires = _fires(trigger, datetime(2024, 3, 30, 12, 0, tzinfo=HELSINKI), 2)

    assert fires == ["2024-03-31T04:30:00+03:00", "2024-04-01T03:30:00+03:00"]
    assert datetime.fromisoformat(fires[0]) == datetime(2024, 3, 31, 1, 30, tzinfo=UTC)


def test_0330_fires_once_on_helsinki_fall_back_day() -> None:
    trigger = CronTrigger(hour=3, minute=30, timezone="Europe/Helsinki")

    fires = _fires(trigger, datetime(2024, 10, 26, 12, 0, tzinfo=HELSINKI), 2)

    assert fires == ["2024-10-27T03:30:00+03:00", "2024-10-28T03:30:00+02:00"]


def test_hourly_keeps_absolute_cadence_through_the_helsinki_fold() -> None:
    trigger = CronTrigger(minute=0, timezone="Europe/Helsinki")

    fires = _fires(trigger, datetime(2024, 10, 27, 2, 30, tzinfo=HELSINKI), 3)

    assert fires == [
        "2024-10-27T03:00:00+03:00",
        "2024-10-27T03:00:00+02:00",
        "2024-10-27T04:00:00+02:00",
    ]


# A 30-minute gap, where label order and instant order disagree


def test_moved_gap_time_does_not_hide_a_real_time_before_it_in_a_half_hour_gap() -> None:
    trigger = CronTrigger(hour=2, minute="10,35", timezone="Australia/Lord_Howe")

    fires = _fires(trigger, datetime(2024, 10, 5, 12, 0, tzinfo=LORD_HOWE), 3)

    # 02:10 does not exist and moves to 02:40; the real 02:35 comes first; both fire.
    assert fires == [
        "2024-10-06T02:35:00+11:00",
        "2024-10-06T02:40:00+11:00",
        "2024-10-07T02:10:00+11:00",
    ]
