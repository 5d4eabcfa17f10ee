"""The Scheduler API (APScheduler's verbs) on the memory store, as a client (never started)."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dueq import job
from dueq.producer import (
    EVENT_ALL_JOBS_REMOVED,
    EVENT_JOB_ADDED,
    EVENT_JOB_MODIFIED,
    EVENT_JOB_REMOVED,
    BackgroundScheduler,
    SchedulerEvent,
)
from dueq.shared.errors import ConfigError, ConflictingIdError, JobLookupError
from dueq.shared.triggers import CronTrigger, IntervalTrigger

T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def module_level_job(x: int) -> int:
    return x


@job("reports.daily")
def registered_job() -> None:
    pass


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def scheduler(clock: FakeClock, memory_broker_url: str) -> Iterator[BackgroundScheduler]:
    sched = BackgroundScheduler(database_url="memory://", broker_url=memory_broker_url, clock=clock)
    yield sched
    sched.shutdown()


def test_add_job_stores_the_job_with_defaults_and_its_first_run_time(
    scheduler: BackgroundScheduler,
) -> None:
    added = scheduler.add_job(
        module_level_job, "interval", minutes=5, start_date=T0, args=[7], id="j"
    )
    assert scheduler.get_job("j") == added
    assert added.func == f"{__name__}:module_level_job"
    assert added.name == "module_level_job"
    assert (added.coalesce, added.max_instances, added.misfire_grace_time) == (True, 1, None)
    assert added.queue == "default"
    assert added.next_run_time == T0
    assert added.args == (7,)


def test_func_may_be_a_registered_name_or_a_reference_text(scheduler: BackgroundScheduler) -> None:
    assert scheduler.add_job(registered_job, "interval", hours=1).func == "reports.daily"
    assert scheduler.add_job("pkg.mod:fn", "interval", hours=1).name == "fn"


def test_a_lambda_is_refused(scheduler: BackgroundScheduler) -> None:
    with pytest.raises(ConfigError, match="lambda"):
        scheduler.add_job(lambda: None, "interval", hours=1)


@pytest.mark.parametrize(
    ("args", "kwargs", "named"),
    [
        ([datetime.now(UTC)], None, r"args\[0\] is a datetime"),
        (None, {"when": {"at": object()}}, r"kwargs\['when'\]\['at'\] is a object"),
        ([{1: "x"}], None, "JSON object keys are strings"),
        ([float("nan")], None, "JSON cannot represent"),
        (["x" * 70_000], None, "the limit is"),
    ],
)
def test_arguments_that_are_not_json_are_refused_naming_the_argument(
    scheduler: BackgroundScheduler, args: object, kwargs: object, named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        scheduler.add_job("m:f", "interval", hours=1, args=args, kwargs=kwargs)  # type: ignore[arg-type]
    assert scheduler.get_jobs() == []


def test_an_existing_id_conflicts_unless_replace_existing(scheduler: BackgroundScheduler) -> None:
    scheduler.add_job("m:f", "interval", hours=1, id="j")
    with pytest.raises(ConflictingIdError):
        scheduler.add_job("m:f", "interval", hours=2, id="j")
    scheduler.add_job("m:g", "interval", hours=2, id="j", replace_existing=True)
    replaced = scheduler.get_job("j")
    assert replaced is not None
    assert replaced.func == "m:g"


def test_replace_existing_with_the_same_trigger_keeps_the_stored_next_run_time(
    scheduler: BackgroundScheduler, clock: FakeClock
) -> None:
    start: dict[str, Any] = {"start_date": T0, "timezone": "UTC"}
    first = scheduler.add_job("m:f", "interval", hours=1, id="j", **start)
    clock.now = T0 + timedelta(hours=5)  # down for five hours: runs are owed
    again = scheduler.add_job("m:f", "interval", hours=1, id="j", replace_existing=True, **start)
    assert again.next_run_time == first.next_run_time == T0
    changed = scheduler.add_job("m:f", "interval", hours=2, id="j", replace_existing=True, **start)
    assert changed.next_run_time == T0 + timedelta(hours=6)  # recomputed from now


def test_next_run_time_none_adds_the_job_paused(scheduler: BackgroundScheduler) -> None:
    added = scheduler.add_job("m:f", "interval", hours=1, start_date=T0, id="p", next_run_time=None)
    assert added.paused
    resumed = scheduler.resume_job("p")
    assert resumed is not None
    assert resumed.next_run_time == T0


def test_unknown_jobs_raise_job_lookup_error(scheduler: BackgroundScheduler) -> None:
    assert scheduler.get_job("nope") is None
    calls: list[Callable[[], object]] = [
        lambda: scheduler.remove_job("nope"),
        lambda: scheduler.modify_job("nope", name="x"),
        lambda: scheduler.reschedule_job("nope", "interval", hours=1),
        lambda: scheduler.pause_job("nope"),
        lambda: scheduler.resume_job("nope"),
    ]
    for call in calls:
        with pytest.raises(JobLookupError, match="nope"):
            call()


def test_modify_reschedule_pause_and_remove_change_the_stored_job(
    scheduler: BackgroundScheduler, clock: FakeClock
) -> None:
    scheduler.add_job("m:f", "interval", hours=1, id="j")
    scheduler.modify_job("j", name="renamed", max_instances=3, kwargs={"a": 1})
    clock.now = T0 + timedelta(minutes=10)
    scheduler.reschedule_job("j", "cron", minute=30)
    stored = scheduler.get_job("j")
    assert stored is not None
    assert (stored.name, stored.max_instances, dict(stored.kwargs)) == ("renamed", 3, {"a": 1})
    assert stored.trigger == CronTrigger(minute=30, timezone="UTC")
    assert stored.next_run_time == T0 + timedelta(minutes=30)
    assert scheduler.pause_job("j").paused
    with pytest.raises(ConfigError, match="id"):
        scheduler.modify_job("j", id="other")
    scheduler.remove_job("j")
    assert scheduler.get_jobs() == []


def test_resuming_a_job_whose_trigger_is_done_removes_it(
    scheduler: BackgroundScheduler, clock: FakeClock
) -> None:
    scheduler.add_job("m:f", "date", run_date=T0 - timedelta(days=1), id="old", next_run_time=None)
    assert scheduler.resume_job("old") is not None  # a past date still fires once
    trigger = IntervalTrigger(hours=1, start_date=T0, end_date=T0, timezone="UTC")
    scheduler.add_job("m:f", trigger, id="done")
    clock.now = T0 + timedelta(seconds=1)
    assert scheduler.get_job("done") is not None
    scheduler.pause_job("done")
    assert scheduler.resume_job("done") is None
    assert scheduler.get_job("done") is None


def test_every_change_emits_the_matching_event(scheduler: BackgroundScheduler) -> None:
    got: list[SchedulerEvent] = []
    done = threading.Event()
    scheduler.add_listener(got.append)
    scheduler.add_listener(lambda _e: done.set(), EVENT_ALL_JOBS_REMOVED)
    scheduler.add_job("m:f", "interval", hours=1, id="a")
    scheduler.modify_job("a", name="b")
    scheduler.remove_job("a")
    scheduler.remove_all_jobs()
    assert done.wait(5)
    assert [e.code for e in got] == [
        EVENT_JOB_ADDED,
        EVENT_JOB_MODIFIED,
        EVENT_JOB_REMOVED,
        EVENT_ALL_JOBS_REMOVED,
    ]


def test_print_jobs_lists_jobs_as_apscheduler_does(scheduler: BackgroundScheduler) -> None:
    out = io.StringIO()
    scheduler.print_jobs(out=out)
    assert out.getvalue() == "Jobstore default:\n    No scheduled jobs\n"
    scheduler.add_job("m:f", "interval", hours=1, start_date=T0, name="hourly")
    scheduler.add_job("m:f", "interval", hours=1, name="idle", next_run_time=None)
    out = io.StringIO()
    scheduler.print_jobs(out=out)
    lines = out.getvalue().splitlines()
    assert lines[1] == (
        "    hourly (trigger: interval[1:00:00], next run at: 2024-01-01 12:00:00+00:00)"
    )
    assert lines[2] == "    idle (trigger: interval[1:00:00], paused)"


def test_scheduled_job_decorator_adds_the_job_once(scheduler: BackgroundScheduler) -> None:
    decorate = scheduler.scheduled_job("interval", minutes=1)
    decorate(module_level_job)
    decorate(module_level_job)
    [added] = scheduler.get_jobs()
    assert added.id == f"{__name__}:module_level_job"


def test_job_defaults_apply_to_options_not_given(memory_broker_url: str) -> None:
    sched = BackgroundScheduler(
        database_url="memory://",
        broker_url=memory_broker_url,
        job_defaults={"coalesce": False, "max_instances": 4, "queue": "bulk"},
    )
    added = sched.add_job("m:f", "interval", hours=1, max_instances=2)
    sched.shutdown()
    assert (added.coalesce, added.max_instances, added.queue) == (False, 2, "bulk")
