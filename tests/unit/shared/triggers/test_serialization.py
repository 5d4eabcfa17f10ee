"""JSON round-trips, value semantics and refused JSON."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

import pytest

from dueq.shared.errors import InvalidTriggerError
from dueq.shared.triggers import (
    AndTrigger,
    CalendarIntervalTrigger,
    CronTrigger,
    DateTrigger,
    IntervalTrigger,
    OrTrigger,
    Trigger,
    trigger_from_dict,
    trigger_spec_adapter,
)

START = "2024-03-31T02:30:00"

# A date trigger made without a date fires "now": its id must not change between two
# collections of the same run (pytest-xdist compares them), so it gets a fixed one.
NOW_DATE = DateTrigger()


def _example_id(trigger: object) -> str:
    return "date[now]" if trigger is NOW_DATE else str(trigger)


EXAMPLES: list[Trigger] = [
    CronTrigger(minute="*/5"),
    CronTrigger(
        year="2024-2030",
        month="jan-dec/3",
        day="last fri",
        week="*/2",
        day_of_week="mon-fri",
        hour="9-17",
        minute="0,30",
        second=15,
        start_date=START,
        end_date="2031-01-01T00:00:00+00:00",
        timezone="Europe/Berlin",
        jitter=12.5,
    ),
    CronTrigger.from_crontab("0 0 1,15 * 0", timezone="America/New_York"),
    CronTrigger.from_crontab("@hourly"),
    IntervalTrigger(seconds=30, start_date=START, timezone="Europe/Helsinki"),
    IntervalTrigger(
        weeks=1, days=2, hours=3, minutes=4, seconds=5.25, end_date="2030-01-01", jitter=1
    ),
    IntervalTrigger(minutes=5),  # start_date defaulted to now + 5 minutes, microseconds kept
    DateTrigger(START, timezone="Asia/Tokyo"),
    NOW_DATE,
    CalendarIntervalTrigger(
        months=1, hour=9, start_date="2024-01-31", end_date="2025-01-01", jitter=60
    ),
    CalendarIntervalTrigger(years=1, weeks=1, days=1, second=59, timezone="Europe/Berlin"),
    AndTrigger([CronTrigger(hour=9), IntervalTrigger(hours=1, start_date=START)], jitter=3),
    OrTrigger([AndTrigger([CronTrigger(minute=0)]), DateTrigger(START)]),
]


@pytest.mark.parametrize("trigger", EXAMPLES, ids=_example_id)
def test_json_round_trip_gives_an_equal_trigger(trigger: Trigger) -> None:
    data = json.loads(json.dumps(trigger.to_dict()))

    rebuilt = trigger_from_dict(data)

    assert rebuilt == trigger
    assert type(rebuilt) is type(trigger)
    assert rebuilt.to_dict() == trigger.to_dict()
    assert str(rebuilt) == str(trigger)


@pytest.mark.parametrize("trigger", EXAMPLES, ids=_example_id)
def test_rebuilt_trigger_gives_the_same_fire_times(trigger: Trigger) -> None:
    rebuilt = trigger_from_dict(json.loads(json.dumps(trigger.to_dict())))
    now = datetime(2024, 6, 1, tzinfo=UTC)

    assert rebuilt.get_next_fire_time(None, now) == trigger.get_next_fire_time(None, now)


@pytest.mark.parametrize("trigger", EXAMPLES, ids=_example_id)
def test_to_dict_validates_against_the_trigger_spec(trigger: Trigger) -> None:
    spec = trigger_spec_adapter.validate_python(trigger.to_dict())

    assert spec.type == trigger.to_dict()["type"]


def test_cron_json_is_readable() -> None:
    data = CronTrigger(minute="*/5", start_date=START, timezone="Europe/Berlin").to_dict()

    assert data == {
        "type": "cron",
        "minute": "*/5",
        "day_or": False,
        "start_date": "2024-03-31T03:30:00+02:00",
        "timezone": "Europe/Berlin",
    }


def test_interval_json_lists_its_parts() -> None:
    data = IntervalTrigger(hours=36, start_date="2024-01-01T00:00:00+00:00").to_dict()

    assert data == {
        "type": "interval",
        "weeks": 0,
        "days": 1,
        "hours": 12,
        "minutes": 0,
        "seconds": 0,
        "start_date": "2024-01-01T00:00:00Z",
        "timezone": "UTC",
    }


def test_triggers_compare_and_hash_by_value() -> None:
    assert CronTrigger(hour=1) == CronTrigger(hour="1")
    assert CronTrigger(hour=1) != CronTrigger(hour=2)
    assert CronTrigger(hour=1) != IntervalTrigger(hours=1)
    assert IntervalTrigger(minutes=1, start_date=START) == IntervalTrigger(
        seconds=60, start_date=START
    )
    assert len({CronTrigger(hour=1), CronTrigger(hour="1"), CronTrigger(hour=2)}) == 2


def test_triggers_are_immutable() -> None:
    trigger = CronTrigger(hour=1)

    with pytest.raises(AttributeError, match="immutable"):
        trigger.jitter = 5


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"type": "crontab"}, "type"),
        ({}, "type"),
        ({"type": "cron", "minute": "61", "timezone": "UTC"}, "minute"),
        ({"type": "cron", "minute": "5"}, "timezone"),
        ({"type": "cron", "minute": "5", "timezone": "Nowhere/City"}, "timezone"),
        ({"type": "cron", "minute": "5", "timezone": "UTC", "color": "red"}, "color"),
        ({"type": "interval", "seconds": -1, "start_date": START, "timezone": "UTC"}, "seconds"),
        ({"type": "interval", "seconds": 5, "start_date": START, "timezone": "UTC"}, "start_date"),
        ({"type": "date", "run_date": "soon", "timezone": "UTC"}, "run_date"),
        ({"type": "and", "triggers": []}, "triggers"),
        (
            {"type": "or", "triggers": [{"type": "cron", "minute": "x", "timezone": "UTC"}]},
            "minute",
        ),
    ],
)
def test_bad_json_raises_invalid_trigger_error_naming_the_field(
    data: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidTriggerError) as caught:
        trigger_from_dict(data)

    assert field in caught.value.field


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"type": "cron", "minute": "5"}, "cron.timezone"),
        ({"type": "date", "run_date": "soon", "timezone": "UTC"}, "date.run_date"),
        ({"type": "or", "triggers": [{"type": "cron"}]}, "or.triggers.0.cron.timezone"),
        ({"type": "crontab"}, "type"),
    ],
)
def test_the_field_is_named_by_its_whole_path_from_the_trigger_type(
    data: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidTriggerError) as caught:
        trigger_from_dict(data)

    assert caught.value.field == field


def test_reading_a_cron_trigger_loads_no_other_trigger() -> None:
    probe = (
        "import sys; from dueq.shared.triggers import trigger_from_dict\n"
        "trigger_from_dict({'type': 'cron', 'minute': '5', 'timezone': 'UTC'})\n"
        "print(sorted(m for m in sys.modules if m.startswith('dueq.shared.triggers.')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = ast.literal_eval(done.stdout.strip())
    others = ("calendarinterval", "combining", "date", "interval", "factory")
    assert [m for m in loaded if m.rsplit(".", 1)[-1] in others] == []
    assert "dueq.shared.triggers.cron.trigger" in loaded


def test_non_mapping_is_refused() -> None:
    with pytest.raises(InvalidTriggerError, match="trigger"):
        trigger_from_dict(["cron"])  # type: ignore[arg-type]  # deliberately wrong


def test_utc_timestamps_with_z_are_read_back() -> None:
    trigger = trigger_from_dict(
        {"type": "date", "run_date": "2024-01-01T00:00:00Z", "timezone": "Europe/Berlin"}
    )

    assert trigger == DateTrigger(datetime(2024, 1, 1, tzinfo=UTC), timezone="Europe/Berlin")


def test_a_subclass_that_sets_its_own_attributes_still_works() -> None:
    class FixedTimes(Trigger):
        def __init__(self, times: list[datetime]) -> None:
            self.times = times

        def get_next_fire_time(
            self, previous_fire_time: datetime | None, now: datetime
        ) -> datetime | None:
            later = [t for t in self.times if previous_fire_time is None or t > previous_fire_time]
            return later[0] if later else None

        def to_dict(self) -> dict[str, Any]:
            return {"type": "fixed", "times": [t.isoformat() for t in self.times]}

    moment = datetime(2024, 1, 1, tzinfo=UTC)
    trigger = FixedTimes([moment])

    assert trigger.get_next_fire_time(None, moment) == moment
    assert trigger == FixedTimes([moment])
    assert trigger.jittered(moment, None, "job") == moment
