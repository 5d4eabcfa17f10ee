"""build_trigger: APScheduler's add_job(trigger=..., **trigger_args) convention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dueq.shared.errors import InvalidTriggerError
from dueq.shared.triggers import (
    AndTrigger,
    CalendarIntervalTrigger,
    CronTrigger,
    DateTrigger,
    IntervalTrigger,
    OrTrigger,
    build_trigger,
)

BERLIN = ZoneInfo("Europe/Berlin")
TOKYO = ZoneInfo("Asia/Tokyo")
START = datetime(2024, 1, 1, tzinfo=UTC)


def test_cron_by_name() -> None:
    assert build_trigger("cron", minute="*/5") == CronTrigger(minute="*/5")


def test_interval_by_name() -> None:
    trigger = build_trigger("interval", seconds=30, start_date=START)

    assert trigger == IntervalTrigger(seconds=30, start_date=START)


def test_date_by_name() -> None:
    assert build_trigger("date", run_date=START) == DateTrigger(START)


def test_calendarinterval_by_name() -> None:
    trigger = build_trigger("calendarinterval", months=1, start_date="2024-01-31")

    assert trigger == CalendarIntervalTrigger(months=1, start_date="2024-01-31")


def test_and_and_or_by_name() -> None:
    members = [CronTrigger(hour=1), CronTrigger(minute=0)]

    assert build_trigger("and", triggers=members) == AndTrigger(members)
    assert build_trigger("or", triggers=members, jitter=2) == OrTrigger(members, jitter=2)


def test_names_are_case_insensitive() -> None:
    assert isinstance(build_trigger("Cron", hour=1), CronTrigger)


def test_none_means_a_date_trigger_for_now() -> None:
    before = datetime.now(UTC)

    trigger = build_trigger(None)

    assert isinstance(trigger, DateTrigger)
    assert before <= trigger.run_date <= datetime.now(UTC) + timedelta(seconds=1)


def test_none_takes_a_run_date() -> None:
    assert build_trigger(None, run_date=START) == DateTrigger(START)


def test_a_trigger_instance_passes_through() -> None:
    trigger = CronTrigger(hour=1)

    assert build_trigger(trigger, default_timezone="Asia/Tokyo") is trigger


def test_a_trigger_instance_with_arguments_is_refused() -> None:
    with pytest.raises(InvalidTriggerError, match="trigger_args"):
        build_trigger(CronTrigger(hour=1), minute=5)


def test_crontab_text_builds_a_crontab_cron_trigger() -> None:
    trigger = build_trigger("0 0 * * 0", default_timezone="Europe/Berlin")

    assert trigger == CronTrigger.from_crontab("0 0 * * 0", timezone="Europe/Berlin")


def test_a_macro_builds_a_crontab_cron_trigger() -> None:
    assert build_trigger("@daily") == CronTrigger(hour=0, minute=0)


def test_unknown_trigger_name_is_refused_naming_it() -> None:
    with pytest.raises(InvalidTriggerError, match=r"'cronn'.*unknown trigger type"):
        build_trigger("cronn")


def test_non_string_trigger_is_refused() -> None:
    with pytest.raises(InvalidTriggerError, match="trigger"):
        build_trigger(42)  # type: ignore[arg-type]  # deliberately wrong


def test_unknown_argument_is_refused_naming_it() -> None:
    with pytest.raises(InvalidTriggerError, match=r"minutes.*not an argument of the 'cron'"):
        build_trigger("cron", minutes=5)


def test_default_zone_applies_when_none_is_given() -> None:
    trigger = build_trigger("cron", hour=9, default_timezone="Europe/Berlin")

    assert isinstance(trigger, CronTrigger)
    assert trigger.timezone == BERLIN


def test_default_zone_applies_to_every_wall_clock_trigger_type() -> None:
    for name, arguments in [
        ("interval", {"hours": 1}),
        ("date", {}),
        ("calendarinterval", {"days": 1}),
    ]:
        trigger = build_trigger(name, default_timezone="Europe/Berlin", **arguments)

        assert trigger.to_dict()["timezone"] == "Europe/Berlin"


def test_aware_start_date_zone_beats_the_default_zone() -> None:
    trigger = build_trigger("cron", hour=9, start_date=datetime(2024, 1, 1, tzinfo=TOKYO))
    with_default = build_trigger(
        "cron",
        hour=9,
        start_date=datetime(2024, 1, 1, tzinfo=TOKYO),
        default_timezone="Europe/Berlin",
    )

    assert isinstance(trigger, CronTrigger)
    assert isinstance(with_default, CronTrigger)
    assert trigger.timezone == TOKYO
    assert with_default.timezone == TOKYO


def test_aware_run_date_zone_beats_the_default_zone() -> None:
    trigger = build_trigger(
        None, run_date=datetime(2024, 1, 1, tzinfo=TOKYO), default_timezone="UTC"
    )

    assert isinstance(trigger, DateTrigger)
    assert trigger.timezone == TOKYO


def test_naive_start_date_is_read_in_the_default_zone() -> None:
    trigger = build_trigger(
        "interval", hours=1, start_date="2024-01-01T00:00:00", default_timezone="Europe/Berlin"
    )

    assert isinstance(trigger, IntervalTrigger)
    assert trigger.start_date == datetime(2023, 12, 31, 23, 0, tzinfo=UTC)


def test_without_any_zone_the_zone_is_the_local_one_as_in_apscheduler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    trigger = build_trigger("cron", hour=9)

    assert isinstance(trigger, CronTrigger)
    assert trigger.timezone.key == "Asia/Shanghai"


def test_bad_default_zone_is_refused_naming_timezone() -> None:
    with pytest.raises(InvalidTriggerError, match="timezone"):
        build_trigger("cron", hour=9, default_timezone="Mars/Olympus")


def test_an_explicit_timezone_argument_is_the_triggers_own_zone() -> None:
    trigger = build_trigger(
        "cron",
        hour=9,
        timezone="Asia/Tokyo",
        start_date=datetime(2024, 1, 1, tzinfo=BERLIN),
        default_timezone="UTC",
    )

    assert isinstance(trigger, CronTrigger)
    assert trigger.timezone == TOKYO


def test_combining_triggers_take_no_timezone_argument() -> None:
    with pytest.raises(InvalidTriggerError, match="timezone"):
        build_trigger("or", triggers=[CronTrigger(hour=1)], timezone="UTC")
