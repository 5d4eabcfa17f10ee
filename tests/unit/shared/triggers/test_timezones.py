"""Time zone arguments: IANA names or ZoneInfo (and UTC), nothing without a name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from dueq.shared.errors import InvalidTriggerError
from dueq.shared.triggers import CronTrigger, DateTrigger, IntervalTrigger


def test_zone_may_be_an_iana_name() -> None:
    assert CronTrigger(hour=1, timezone="Europe/Berlin").timezone == ZoneInfo("Europe/Berlin")


def test_zone_may_be_a_zoneinfo() -> None:
    zone = ZoneInfo("America/New_York")

    assert CronTrigger(hour=1, timezone=zone).timezone is zone


# timezone.utc is spelled out on purpose: it is what APScheduler users pass.
@pytest.mark.parametrize("utc", [UTC, timezone.utc, timezone(timedelta(0)), "UTC"])  # noqa: UP017
def test_utc_in_any_spelling_becomes_the_utc_zone(utc: str | timezone) -> None:
    assert CronTrigger(hour=1, timezone=utc).timezone.key == "UTC"


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus", "", "../etc/passwd", timezone(timedelta(hours=5, minutes=45)), 5]
)
def test_zone_without_an_iana_name_is_refused_naming_timezone(zone: object) -> None:
    with pytest.raises(InvalidTriggerError) as caught:
        CronTrigger(hour=1, timezone=zone)  # type: ignore[arg-type]  # deliberately bad

    assert caught.value.field == "timezone"
    assert "timezone" in str(caught.value)


def test_zone_defaults_to_the_local_zone_as_in_apscheduler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    assert IntervalTrigger(hours=1).timezone.key == "Asia/Tokyo"
    monkeypatch.setenv("TZ", "Etc/UTC")
    assert IntervalTrigger(hours=1).timezone.key == "UTC"


def test_start_date_with_a_fixed_offset_sets_the_instant_but_not_the_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "UTC")
    trigger = CronTrigger(hour=1, start_date="2024-01-01T00:00:00+02:00")

    assert trigger.timezone.key == "UTC"
    assert trigger.start_date == datetime(2023, 12, 31, 22, 0, tzinfo=UTC)


def test_start_date_in_utc_gives_the_utc_zone() -> None:
    assert CronTrigger(hour=1, start_date="2024-01-01T00:00:00Z").timezone.key == "UTC"


def test_date_without_time_is_midnight_in_the_zone() -> None:
    trigger = DateTrigger("2024-07-01", timezone="Europe/Berlin")

    assert trigger.run_date == datetime(2024, 6, 30, 22, 0, tzinfo=UTC)


def test_naive_now_is_refused() -> None:
    with pytest.raises(InvalidTriggerError, match="now"):
        CronTrigger(hour=1).get_next_fire_time(None, datetime(2024, 1, 1))


def test_naive_previous_fire_time_is_refused() -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC)

    with pytest.raises(InvalidTriggerError, match="previous_fire_time"):
        IntervalTrigger(hours=1).get_next_fire_time(datetime(2024, 1, 1), now)
