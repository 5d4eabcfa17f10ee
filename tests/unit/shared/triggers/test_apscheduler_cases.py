"""Where APScheduler 3.11's own trigger tests disagreed with dueq: each case decided.

The expected values were recorded from APScheduler 3.11.3; where dueq keeps its own
answer, docs/triggers.md's differences table says why.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import pytz

from dueq.shared.errors import InvalidTriggerError
from dueq.shared.triggers import (
    CalendarIntervalTrigger,
    CronTrigger,
    DateTrigger,
    IntervalTrigger,
    build_trigger,
)

BERLIN = ZoneInfo("Europe/Berlin")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_calendar_interval_starts_at_or_after_now_not_at_a_past_start_date() -> None:
    # APScheduler answers 2016-03-31 (its scheduler then reports ten years of misfires);
    # dueq answers the first fire time at or after now, like Interval and Cron do in both.
    trigger = CalendarIntervalTrigger(months=1, start_date=date(2016, 3, 31), timezone=BERLIN)
    now = datetime(2026, 12, 6, 12, tzinfo=BERLIN)
    assert trigger.get_next_fire_time(None, now) == datetime(2026, 12, 31, tzinfo=BERLIN)


def test_cron_without_a_zone_takes_the_zone_of_its_end_date() -> None:
    trigger = CronTrigger(hour=4, end_date=datetime(2014, 4, 13, 3, tzinfo=BERLIN))
    assert trigger.timezone == BERLIN


def test_interval_without_a_zone_takes_the_zone_of_its_end_date() -> None:
    end = datetime(2030, 1, 1, tzinfo=BERLIN)
    assert IntervalTrigger(seconds=5, end_date=end).timezone == BERLIN


def test_build_trigger_keeps_the_end_dates_zone_over_the_default_zone() -> None:
    end = datetime(2030, 1, 1, tzinfo=BERLIN)
    trigger = build_trigger("cron", hour=4, end_date=end, default_timezone="UTC")
    assert trigger.timezone == BERLIN  # type: ignore[attr-defined]  # a CronTrigger


def test_date_trigger_reads_apschedulers_short_date_text() -> None:
    trigger = DateTrigger("2009-7-6", BERLIN)
    assert trigger.run_date == datetime(2009, 7, 6, tzinfo=BERLIN)
    assert DateTrigger("2009-7-6 8:05:09.5", "UTC").run_date == datetime(
        2009, 7, 6, 8, 5, 9, 500_000, tzinfo=UTC
    )


def test_date_trigger_still_refuses_text_that_is_no_date() -> None:
    with pytest.raises(InvalidTriggerError, match="run_date"):
        DateTrigger("2009-13-45", BERLIN)


@pytest.mark.parametrize(
    "make",
    [
        lambda end: IntervalTrigger(seconds=5, end_date=end),
        lambda end: CronTrigger(second="*/5", end_date=end),
        lambda end: IntervalTrigger(seconds=5, start_date=end + timedelta(days=1), end_date=end),
    ],
    ids=["interval", "cron", "interval-start-after-end"],
)
def test_a_trigger_that_ended_before_it_starts_is_built_and_never_fires(make: object) -> None:
    end = datetime.now(UTC) - timedelta(hours=1)
    trigger = make(end)  # type: ignore[operator]  # one of the lambdas above
    assert trigger.get_next_fire_time(None, datetime.now(UTC)) is None


def test_calendar_interval_still_refuses_an_end_before_its_start_as_apscheduler_does() -> None:
    with pytest.raises(InvalidTriggerError, match="end_date"):
        CalendarIntervalTrigger(days=1, start_date=date(2020, 1, 2), end_date=date(2020, 1, 1))


def test_pytz_zones_are_taken_by_name() -> None:
    trigger = CronTrigger(hour=6, timezone=pytz.timezone("Asia/Shanghai"))
    assert trigger.timezone == SHANGHAI
    localized = pytz.timezone("Europe/Berlin").localize(datetime(2030, 1, 1, 6))
    assert IntervalTrigger(hours=1, start_date=localized).timezone == BERLIN
    assert DateTrigger(datetime(2030, 1, 1), pytz.utc).timezone == ZoneInfo("UTC")


def test_a_whole_hour_datetime_timezone_becomes_its_etc_gmt_zone() -> None:
    trigger = CronTrigger(hour=6, timezone=timezone(timedelta(hours=8)))
    assert trigger.timezone == ZoneInfo("Etc/GMT-8")
    assert trigger.get_next_fire_time(None, datetime(2030, 1, 1, tzinfo=UTC)) == datetime(
        2030, 1, 1, 22, tzinfo=UTC
    )
    assert CronTrigger(hour=6, timezone=timezone.utc).timezone  # noqa: UP017 == ZoneInfo("UTC")


def test_an_offset_no_zone_has_is_refused_naming_the_timezone() -> None:
    with pytest.raises(InvalidTriggerError, match="timezone"):
        CronTrigger(hour=6, timezone=timezone(timedelta(hours=5, minutes=45)))


def test_without_any_zone_a_trigger_uses_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    assert CronTrigger(hour=6).timezone == SHANGHAI
    assert DateTrigger(datetime(2030, 1, 1, 8)).run_date == datetime(2030, 1, 1, tzinfo=UTC)
