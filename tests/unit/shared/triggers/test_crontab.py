"""CronTrigger.from_crontab: crontab text with the meaning real cron gives it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dueq.shared.errors import InvalidTriggerError
from dueq.shared.triggers import CronTrigger

MONDAY = datetime(2024, 1, 1, tzinfo=UTC)


def _fires(expr: str, count: int, now: datetime = MONDAY) -> list[str]:
    trigger = CronTrigger.from_crontab(expr)
    found: list[str] = []
    previous = None
    while len(found) < count:
        previous = trigger.get_next_fire_time(previous, now)
        assert previous is not None
        found.append(previous.strftime("%Y-%m-%d %a %H:%M:%S"))
    return found


def _weekdays(expr: str, count: int = 7) -> list[str]:
    return [fire[11:14] for fire in _fires(expr, count)]


def test_five_fields_are_minute_hour_day_month_day_of_week() -> None:
    assert _fires("30 9 15 6 *", 2) == ["2024-06-15 Sat 09:30:00", "2025-06-15 Sun 09:30:00"]


def test_five_fields_fire_on_second_zero() -> None:
    assert _fires("* * * * *", 2) == ["2024-01-01 Mon 00:00:00", "2024-01-01 Mon 00:01:00"]


def test_six_fields_have_a_leading_seconds_field() -> None:
    assert _fires("15,45 0 9 * * *", 3) == [
        "2024-01-01 Mon 09:00:15",
        "2024-01-01 Mon 09:00:45",
        "2024-01-02 Tue 09:00:15",
    ]


def test_six_stars_fire_every_second() -> None:
    assert _fires("* * * * * *", 2) == ["2024-01-01 Mon 00:00:00", "2024-01-01 Mon 00:00:01"]


def test_star_fields_before_a_restricted_one_stay_unrestricted() -> None:
    assert _fires("* 9 * * *", 2) == ["2024-01-01 Mon 09:00:00", "2024-01-01 Mon 09:01:00"]


def test_day_of_week_0_is_sunday() -> None:
    assert _weekdays("0 0 * * 0", 1) == ["Sun"]


def test_day_of_week_7_is_sunday_too() -> None:
    assert _weekdays("0 0 * * 7", 1) == ["Sun"]


def test_day_of_week_1_to_5_is_monday_to_friday() -> None:
    assert _weekdays("0 0 * * 1-5", 6) == ["Mon", "Tue", "Wed", "Thu", "Fri", "Mon"]


def test_day_of_week_range_from_sunday_does_not_wrap() -> None:
    assert _weekdays("0 0 * * 0-3", 4) == ["Mon", "Tue", "Wed", "Sun"]


def test_day_of_week_range_may_end_on_7() -> None:
    assert _weekdays("0 0 * * 5-7", 4) == ["Fri", "Sat", "Sun", "Fri"]


def test_day_of_week_step_counts_from_sunday() -> None:
    assert _weekdays("0 0 * * */2", 5) == ["Tue", "Thu", "Sat", "Sun", "Tue"]


def test_day_of_week_range_with_step_counts_in_cron_numbers() -> None:
    assert _weekdays("0 0 * * 1-7/2", 5) == ["Mon", "Wed", "Fri", "Sun", "Mon"]


def test_day_of_week_names_are_accepted() -> None:
    assert _weekdays("0 0 * * SAT,sun", 3) == ["Sat", "Sun", "Sat"]


def test_day_of_week_name_range_may_end_on_sunday() -> None:
    assert _weekdays("0 0 * * fri-sun", 3) == ["Fri", "Sat", "Sun"]


def test_converted_day_of_week_is_written_with_monday_based_names() -> None:
    trigger = CronTrigger.from_crontab("0 0 * * 0-3")

    assert str(trigger) == "cron[day_of_week='mon-wed,sun', hour='0', minute='0']"


def test_month_names_and_steps_on_named_month_ranges_work() -> None:
    months = [fire[:7] for fire in _fires("0 0 1 jan-dec/4 *", 3)]

    assert months == ["2024-01", "2024-05", "2024-09"]


def test_day_and_day_of_week_both_restricted_match_either() -> None:
    fires = [fire[:14] for fire in _fires("0 0 13 * fri", 4)]

    # Every 13th and every Friday, not only Friday the 13th.
    assert fires == ["2024-01-05 Fri", "2024-01-12 Fri", "2024-01-13 Sat", "2024-01-19 Fri"]


def test_either_rule_is_kept_as_day_or_on_the_trigger() -> None:
    assert CronTrigger.from_crontab("0 0 1,15 * 1").day_or is True
    assert CronTrigger.from_crontab("0 0 1,15 * *").day_or is False
    assert CronTrigger.from_crontab("0 0 * * 1").day_or is False


def test_day_of_week_alone_restricts_only_the_weekday() -> None:
    assert _weekdays("0 0 * * 1", 2) == ["Mon", "Mon"]


def test_day_field_starting_with_star_keeps_and_as_vixie_cron_does() -> None:
    fires = [fire[:14] for fire in _fires("0 0 */2 * mon", 2)]

    assert CronTrigger.from_crontab("0 0 */2 * mon").day_or is False
    assert fires == ["2024-01-01 Mon", "2024-01-15 Mon"]


@pytest.mark.parametrize(
    ("macro", "expected"),
    [
        ("@yearly", ["2025-01-01 Wed 00:00:00", "2026-01-01 Thu 00:00:00"]),
        ("@annually", ["2025-01-01 Wed 00:00:00", "2026-01-01 Thu 00:00:00"]),
        ("@monthly", ["2024-02-01 Thu 00:00:00", "2024-03-01 Fri 00:00:00"]),
        ("@weekly", ["2024-01-07 Sun 00:00:00", "2024-01-14 Sun 00:00:00"]),
        ("@daily", ["2024-01-02 Tue 00:00:00", "2024-01-03 Wed 00:00:00"]),
        ("@midnight", ["2024-01-02 Tue 00:00:00", "2024-01-03 Wed 00:00:00"]),
        ("@hourly", ["2024-01-01 Mon 01:00:00", "2024-01-01 Mon 02:00:00"]),
    ],
)
def test_macros_mean_what_cron_means(macro: str, expected: list[str]) -> None:
    just_after_midnight = datetime(2024, 1, 1, 0, 0, 1, tzinfo=UTC)

    assert _fires(macro, 2, just_after_midnight) == expected


def test_macros_are_case_insensitive() -> None:
    assert CronTrigger.from_crontab("@DAILY") == CronTrigger.from_crontab("0 0 * * *")


def test_reboot_is_refused_clearly() -> None:
    with pytest.raises(InvalidTriggerError, match="@reboot is not supported"):
        CronTrigger.from_crontab("@reboot")


def test_unknown_macro_is_refused_naming_it() -> None:
    with pytest.raises(InvalidTriggerError, match="@fortnightly"):
        CronTrigger.from_crontab("@fortnightly")


@pytest.mark.parametrize("expr", ["* * *", "", "* * * * * * *", "0 0 1 1"])
def test_wrong_field_count_names_the_expression_and_the_expected_count(expr: str) -> None:
    with pytest.raises(InvalidTriggerError) as caught:
        CronTrigger.from_crontab(expr)

    message = str(caught.value)
    assert repr(expr) in message
    assert "expected 5 fields" in message
    assert f"got {len(expr.split())}" in message


@pytest.mark.parametrize(
    ("expr", "field", "text"),
    [
        ("61 * * * *", "minute", "61"),
        ("* 24 * * *", "hour", "24"),
        ("* * 0 * *", "day", "0"),
        ("* * * 13 *", "month", "13"),
        ("* * * * 8", "day_of_week", "8"),
        ("* * * * funday", "day_of_week", "funday"),
        ("* * * * 5-2", "day_of_week", "5-2"),
        ("* * * * */0", "day_of_week", "*/0"),
        ("* * * * 1#2", "day_of_week", "1#2"),
        ("60 * * * * *", "second", "60"),
    ],
)
def test_bad_crontab_field_names_the_field_and_the_text(expr: str, field: str, text: str) -> None:
    with pytest.raises(InvalidTriggerError) as caught:
        CronTrigger.from_crontab(expr)

    assert caught.value.field == field
    assert field in str(caught.value)
    assert text in str(caught.value)


def test_bad_crontab_value_also_names_the_whole_expression() -> None:
    with pytest.raises(InvalidTriggerError, match=r"in crontab expression '61 \* \* \* \*'"):
        CronTrigger.from_crontab("61 * * * *")


def test_non_string_expression_is_refused() -> None:
    with pytest.raises(InvalidTriggerError, match="expr"):
        CronTrigger.from_crontab(5)  # type: ignore[arg-type]  # deliberately wrong


def test_from_crontab_takes_zone_dates_and_jitter() -> None:
    trigger = CronTrigger.from_crontab(
        "0 9 * * *", "Europe/Berlin", start_date="2024-06-01", end_date="2024-06-30", jitter=10
    )

    assert trigger.timezone.key == "Europe/Berlin"
    assert trigger.start_date == datetime(2024, 5, 31, 22, 0, tzinfo=UTC)
    assert trigger.jitter == 10
