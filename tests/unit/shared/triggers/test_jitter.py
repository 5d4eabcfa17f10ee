"""Jitter: a real, deterministic, capped delay applied outside the nominal walk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
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
)

START = datetime(2024, 1, 1, tzinfo=UTC)


def test_no_jitter_returns_the_fire_time_unchanged() -> None:
    for trigger in (CronTrigger(minute=0), CronTrigger(minute=0, jitter=0), DateTrigger(START)):
        assert trigger.jittered(START, START + timedelta(hours=1), "job") is START


def test_jitter_delays_within_the_jitter() -> None:
    trigger = IntervalTrigger(minutes=10, start_date=START, jitter=30)

    delays = [
        trigger.jittered(START, START + timedelta(minutes=10), f"job-{n}") - START
        for n in range(200)
    ]

    assert all(timedelta(0) <= delay < timedelta(seconds=30) for delay in delays)
    assert len(set(delays)) > 150  # keys spread out


def test_jitter_is_the_same_for_the_same_key_and_time() -> None:
    trigger = CronTrigger(minute="*/5", jitter=60)
    following = START + timedelta(minutes=5)

    assert trigger.jittered(START, following, "a") == trigger.jittered(START, following, "a")
    assert trigger.jittered(START, following, "a") != trigger.jittered(START, following, "b")


def test_jitter_does_not_depend_on_the_zone_the_time_is_given_in() -> None:
    trigger = CronTrigger(minute="*/5", jitter=60)
    in_tokyo = START.astimezone(ZoneInfo("Asia/Tokyo"))

    jittered = trigger.jittered(in_tokyo, None, "a")

    assert jittered == trigger.jittered(START, None, "a")
    assert jittered.tzinfo == in_tokyo.tzinfo


def test_jitter_never_reaches_the_following_fire_time() -> None:
    trigger = CronTrigger(second="*", jitter=3600)
    following = START + timedelta(seconds=1)

    for n in range(500):
        assert START <= trigger.jittered(START, following, str(n)) < following


def test_jitter_never_passes_the_end_date() -> None:
    end = START + timedelta(seconds=5)
    trigger = IntervalTrigger(hours=1, start_date=START, end_date=end, jitter=3600)

    jittered = [trigger.jittered(START, None, str(n)) for n in range(500)]

    assert all(START <= moment <= end for moment in jittered)


def test_jitter_at_the_end_date_is_zero() -> None:
    trigger = CronTrigger(minute=0, end_date=START, jitter=3600)

    assert trigger.jittered(START, None, "job") == START


def test_calendar_interval_jitter_stays_within_the_end_date() -> None:
    trigger = CalendarIntervalTrigger(
        days=1, hour=23, minute=59, start_date="2024-01-01", end_date="2024-01-01", jitter=3600
    )
    fire = trigger.get_next_fire_time(None, START)
    assert fire is not None

    jittered = [trigger.jittered(fire, None, str(n)) for n in range(200)]

    assert all(jittered_time < datetime(2024, 1, 2, tzinfo=UTC) for jittered_time in jittered)


def test_combining_triggers_apply_their_own_jitter() -> None:
    trigger = AndTrigger([CronTrigger(minute=0, jitter=1000)], jitter=5)

    assert START <= trigger.jittered(START, None, "job") < START + timedelta(seconds=5)
    assert OrTrigger([CronTrigger(minute=0, jitter=1000)]).jittered(START, None, "job") == START


def test_nominal_walk_ignores_jitter_so_an_interval_does_not_drift_over_1000_runs() -> None:
    interval = timedelta(seconds=60)
    trigger = IntervalTrigger(seconds=60, start_date=START, jitter=30)
    nominal: list[datetime] = []
    previous = None
    for _ in range(1000):
        previous = trigger.get_next_fire_time(previous, START)
        assert previous is not None
        nominal.append(previous)

    assert nominal[999] == START + 999 * interval
    for current, following in pairwise(nominal):
        assert current <= trigger.jittered(current, following, "job") < following


def test_cron_with_jitter_larger_than_its_period_neither_skips_nor_drifts() -> None:
    trigger = CronTrigger(minute="*", jitter=90)
    nominal: list[datetime] = []
    previous = None
    for _ in range(100):
        previous = trigger.get_next_fire_time(previous, START)
        assert previous is not None
        nominal.append(previous)

    assert nominal[-1] == START + timedelta(minutes=99)
    runs = [trigger.jittered(now, following, "job") for now, following in pairwise(nominal)]
    assert runs == sorted(runs)
    assert all(run < following for run, following in zip(runs, nominal[1:], strict=True))


def test_naive_fire_time_is_refused() -> None:
    with pytest.raises(InvalidTriggerError, match="fire_time"):
        CronTrigger(minute=0, jitter=5).jittered(datetime(2024, 1, 1), None, "job")
