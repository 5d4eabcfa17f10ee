"""AndTrigger and OrTrigger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dueq.shared.errors import InvalidTriggerError
from dueq.shared.triggers import (
    AndTrigger,
    CronTrigger,
    DateTrigger,
    IntervalTrigger,
    OrTrigger,
    Trigger,
)
from dueq.shared.triggers.combining import MAX_AND_ROUNDS

START = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday


def _fires(trigger: Trigger, now: datetime, count: int) -> list[datetime]:
    found: list[datetime] = []
    previous = None
    while len(found) < count:
        previous = trigger.get_next_fire_time(previous, now)
        if previous is None:
            break
        found.append(previous)
    return found


def _times(fires: list[datetime]) -> list[str]:
    return [fire.strftime("%a %H:%M") for fire in fires]


def test_and_fires_when_every_member_fires() -> None:
    trigger = AndTrigger(
        [CronTrigger(minute="*/10"), IntervalTrigger(minutes=15, start_date=START)]
    )

    assert _times(_fires(trigger, START, 3)) == ["Mon 00:00", "Mon 00:30", "Mon 01:00"]


def test_and_of_weekdays_and_working_hours() -> None:
    trigger = AndTrigger(
        [CronTrigger(day_of_week="sat,sun", hour="*"), CronTrigger(hour="9,17", minute=0)]
    )

    assert _times(_fires(trigger, START, 3)) == ["Sat 09:00", "Sat 17:00", "Sun 09:00"]


def test_and_is_exhausted_when_any_member_is() -> None:
    trigger = AndTrigger(
        [CronTrigger(minute=0), CronTrigger(hour="*", end_date=START + timedelta(hours=2))]
    )

    assert len(_fires(trigger, START, 10)) == 3


def test_and_with_a_past_date_member_is_exhausted() -> None:
    trigger = AndTrigger([DateTrigger(START), CronTrigger(minute=0)])

    assert trigger.get_next_fire_time(None, START + timedelta(hours=1)) is None


def test_and_with_a_date_member_fires_once_at_that_date_if_the_others_agree() -> None:
    run_date = START + timedelta(hours=3)
    trigger = AndTrigger([DateTrigger(run_date), CronTrigger(minute=0)])

    assert _fires(trigger, START, 5) == [run_date]


def test_and_of_members_that_never_agree_gives_up_after_the_round_cap() -> None:
    off_grid = IntervalTrigger(hours=1, start_date=START + timedelta(seconds=1))
    trigger = AndTrigger([off_grid, CronTrigger(minute=0)])

    assert MAX_AND_ROUNDS == 10_000
    assert trigger.get_next_fire_time(None, START) is None


def test_or_fires_when_any_member_fires() -> None:
    trigger = OrTrigger([CronTrigger(hour=9, minute=0), CronTrigger(hour=17, minute=30)])

    assert _times(_fires(trigger, START, 3)) == ["Mon 09:00", "Mon 17:30", "Tue 09:00"]


def test_or_fires_once_when_members_coincide() -> None:
    trigger = OrTrigger([CronTrigger(minute="*/15"), CronTrigger(minute="*/10")])

    assert _times(_fires(trigger, START, 5)) == [
        "Mon 00:00",
        "Mon 00:10",
        "Mon 00:15",
        "Mon 00:20",
        "Mon 00:30",
    ]


def test_or_keeps_each_interval_member_on_its_own_grid() -> None:
    trigger = OrTrigger(
        [IntervalTrigger(minutes=10, start_date=START), CronTrigger(minute=5, hour="*")]
    )

    assert _times(_fires(trigger, START, 4)) == ["Mon 00:00", "Mon 00:05", "Mon 00:10", "Mon 00:20"]


def test_or_with_a_date_member_fires_it_once_among_the_others() -> None:
    run_date = START + timedelta(minutes=90)
    trigger = OrTrigger([DateTrigger(run_date), CronTrigger(minute=0)])

    assert _times(_fires(trigger, START, 4)) == ["Mon 00:00", "Mon 01:00", "Mon 01:30", "Mon 02:00"]


def test_or_is_exhausted_when_every_member_is() -> None:
    trigger = OrTrigger([DateTrigger(START), DateTrigger(START + timedelta(hours=1))])

    assert _fires(trigger, START, 5) == [START, START + timedelta(hours=1)]


def test_combinations_nest() -> None:
    weekend_noon = AndTrigger([CronTrigger(day_of_week="sat,sun", hour=12), CronTrigger(minute=0)])
    trigger = OrTrigger([weekend_noon, CronTrigger(day_of_week="wed", hour=8)])

    assert _times(_fires(trigger, START, 3)) == ["Wed 08:00", "Sat 12:00", "Sun 12:00"]


@pytest.mark.parametrize("triggers", [[], [CronTrigger(hour=1), "cron"], CronTrigger(hour=1), 5])
def test_bad_member_lists_are_refused_naming_triggers(triggers: object) -> None:
    with pytest.raises(InvalidTriggerError, match="triggers"):
        AndTrigger(triggers)  # type: ignore[arg-type]  # deliberately bad


def test_str_shows_the_members() -> None:
    trigger = OrTrigger([CronTrigger(minute=5), IntervalTrigger(seconds=30)], jitter=2)

    assert str(trigger) == "or[cron[minute='5'], interval[0:00:30]]"
    assert repr(trigger).startswith("<OrTrigger([<CronTrigger (minute='5'")
    assert repr(trigger).endswith(", jitter=2.0)>")
