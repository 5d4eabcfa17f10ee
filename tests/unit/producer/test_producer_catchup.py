"""Which missed run-times a due job publishes: all, the newest (coalesce), or a capped set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from dueq.producer.catchup import Slot, first_slot, plan_runs
from dueq.shared.triggers import CronTrigger, DateTrigger, IntervalTrigger, Trigger

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def every(seconds: float, **extra: Any) -> IntervalTrigger:
    return IntervalTrigger(seconds=seconds, start_date=T0, timezone="UTC", **extra)


def at(trigger: Trigger, moment: datetime) -> Slot:
    return Slot(fire_time=moment, run_time=trigger.jittered(moment, None, "job"))


def test_without_coalesce_every_missed_run_time_is_published_oldest_first() -> None:
    trigger = every(10)
    plan = plan_runs(
        trigger, "job", at(trigger, T0), T0 + timedelta(seconds=35), coalesce=False, cap=100
    )
    assert plan.run_times == [T0 + timedelta(seconds=s) for s in (0, 10, 20, 30)]
    assert plan.next_slot == Slot(
        fire_time=T0 + timedelta(seconds=40), run_time=T0 + timedelta(seconds=40)
    )
    assert not plan.truncated


def test_coalesce_publishes_only_the_newest_missed_run_time() -> None:
    trigger = every(10)
    plan = plan_runs(
        trigger, "job", at(trigger, T0), T0 + timedelta(seconds=35), coalesce=True, cap=100
    )
    assert plan.run_times == [T0 + timedelta(seconds=30)]
    assert plan.next_slot is not None
    assert plan.next_slot.fire_time == T0 + timedelta(seconds=40)


def test_a_run_time_equal_to_now_is_due() -> None:
    trigger = every(10)
    plan = plan_runs(
        trigger, "job", at(trigger, T0), T0 + timedelta(seconds=10), coalesce=False, cap=5
    )
    assert plan.run_times == [T0, T0 + timedelta(seconds=10)]


def test_the_cap_bounds_the_runs_published_without_coalesce_and_skips_to_after_now() -> None:
    trigger = every(1)
    now = T0 + timedelta(days=1, seconds=0.5)
    plan = plan_runs(trigger, "job", at(trigger, T0), now, coalesce=False, cap=50)
    assert plan.run_times == [T0 + timedelta(seconds=s) for s in range(50)]
    assert plan.truncated
    assert plan.next_slot is not None
    assert plan.next_slot.fire_time == T0 + timedelta(days=1, seconds=1)


class CountingTrigger(IntervalTrigger):
    """Counts trigger calls, to show a year of downtime is not walked step by step."""

    calls = 0

    def get_next_fire_time(self, previous: datetime | None, now: datetime) -> datetime | None:
        type(self).calls += 1
        return super().get_next_fire_time(previous, now)


def test_coalesce_after_a_long_downtime_finds_the_newest_time_without_walking_it_all() -> None:
    trigger = CountingTrigger(seconds=1, start_date=T0, timezone="UTC")
    now = T0 + timedelta(days=365, seconds=0.25)
    CountingTrigger.calls = 0
    plan = plan_runs(trigger, "job", at(trigger, T0), now, coalesce=True, cap=100)
    assert plan.run_times == [T0 + timedelta(days=365)]
    assert plan.next_slot is not None
    assert plan.next_slot.fire_time == T0 + timedelta(days=365, seconds=1)
    assert CountingTrigger.calls < 400  # versus 31.5 million steps


def test_an_exhausted_trigger_has_no_next_slot() -> None:
    trigger = DateTrigger(T0, timezone="UTC")
    plan = plan_runs(
        trigger, "job", at(trigger, T0), T0 + timedelta(hours=1), coalesce=True, cap=10
    )
    assert plan.run_times == [T0]
    assert plan.next_slot is None


def test_cron_with_seconds_enumerates_each_missed_second_mark() -> None:
    trigger = CronTrigger(second="*/15", timezone="UTC")
    start = first_slot(trigger, "job", T0)
    assert start is not None
    plan = plan_runs(trigger, "job", start, T0 + timedelta(minutes=1), coalesce=False, cap=100)
    assert plan.run_times == [T0 + timedelta(seconds=s) for s in (0, 15, 30, 45, 60)]


def test_jitter_delays_runs_but_the_walk_continues_from_the_nominal_times() -> None:
    trigger = every(60, jitter=30)
    start = first_slot(trigger, "job", T0)
    assert start is not None
    plan = plan_runs(trigger, "job", start, T0 + timedelta(hours=2), coalesce=False, cap=1000)
    assert len(plan.run_times) >= 119
    for index, run_time in enumerate(plan.run_times):
        nominal = T0 + timedelta(minutes=index)
        assert nominal <= run_time < nominal + timedelta(seconds=30)
    assert plan.next_slot is not None
    assert plan.next_slot.fire_time.second == 0  # no drift after two hours
