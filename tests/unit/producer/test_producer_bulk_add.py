"""``Scheduler.add_jobs`` on the memory store: validated like add_job, stored in chunks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dueq.producer import EVENT_JOB_ADDED, BackgroundScheduler, SchedulerEvent
from dueq.producer.bulkadd import BulkBuilder, add_in_chunks
from dueq.producer.job import Job
from dueq.producer.settings import JobDefaults
from dueq.producer.store import MemoryJobStore
from dueq.shared.errors import ConfigError, ConflictingIdError, InvalidTriggerError
from dueq.shared.triggers import CronTrigger

T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)


def module_level_job(x: int) -> int:
    return x


@pytest.fixture
def scheduler(memory_broker_url: str) -> Iterator[BackgroundScheduler]:
    sched = BackgroundScheduler(
        database_url="memory://", broker_url=memory_broker_url, clock=lambda: T0
    )
    yield sched
    sched.shutdown()


def interval_item(job_id: str, **more: Any) -> dict[str, Any]:
    return {
        "func": module_level_job, "trigger": "interval", "hours": 1, "start_date": T0,
        "id": job_id, **more,
    }  # fmt: skip


def test_add_jobs_stores_what_add_job_would(scheduler: BackgroundScheduler) -> None:
    count = scheduler.add_jobs(
        [interval_item("a", args=[1]), interval_item("b", kwargs={"x": 2}, queue="q2")]
    )
    single = scheduler.add_job(
        module_level_job, "interval", hours=1, start_date=T0, id="c", args=[1]
    )
    a, b = scheduler.get_job("a"), scheduler.get_job("b")
    assert count == 2
    assert a is not None
    assert b is not None
    assert a == single.replace(id="a")
    assert (b.kwargs, b.queue, b.next_run_time) == ({"x": 2}, "q2", T0)
    assert a.trigger is b.trigger  # one trigger built for the shared specification


@pytest.mark.parametrize(
    ("item", "error", "text"),
    [
        ({"func": lambda: None, "id": "x"}, ConfigError, "lambda"),
        (interval_item("x", args=[datetime.now(UTC)]), ConfigError, "args[0]"),
        (interval_item("x", hours="soon"), InvalidTriggerError, "hours"),
        (interval_item("x", replace_existing=True), ConfigError, "replace_existing"),
        ({"id": "x", "trigger": "date"}, ConfigError, "func is missing"),
    ],
)
def test_an_invalid_item_is_refused_naming_its_index_and_id(
    scheduler: BackgroundScheduler, item: dict[str, Any], error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=r"jobs\[1\] \(id 'x'\)") as raised:
        scheduler.add_jobs([interval_item("ok"), item])
    assert text in str(raised.value)
    assert scheduler.get_jobs() == []  # the chunk holding the bad item is not stored


def test_an_item_that_is_not_a_mapping_is_refused(scheduler: BackgroundScheduler) -> None:
    with pytest.raises(ConfigError, match=r"jobs\[0\] is a str"):
        scheduler.add_jobs(["module:func"])  # type: ignore[list-item]


def test_a_repeated_id_conflicts_unless_replacing(scheduler: BackgroundScheduler) -> None:
    with pytest.raises(ConflictingIdError, match="'a'"):
        scheduler.add_jobs([interval_item("a"), interval_item("a")])
    scheduler.add_job(module_level_job, "interval", hours=1, id="old")
    with pytest.raises(ConflictingIdError, match="'old'"):
        scheduler.add_jobs([interval_item("old")])
    added = scheduler.add_jobs(
        [interval_item("a"), interval_item("a", name="second")], replace_existing=True
    )
    stored = scheduler.get_job("a")
    assert added == 2
    assert stored is not None
    assert stored.name == "second"


def test_replacing_keeps_next_run_time_unless_the_trigger_or_the_time_changes(
    memory_broker_url: str,
) -> None:
    now = [T0]
    sched = BackgroundScheduler(
        database_url="memory://", broker_url=memory_broker_url, clock=lambda: now[0]
    )
    try:
        sched.add_jobs([interval_item("same"), interval_item("cron"), interval_item("given")])
        now[0] = T0 + timedelta(minutes=30)
        at = T0 + timedelta(days=2)
        sched.add_jobs(
            [
                interval_item("same", name="renamed"),
                {"func": module_level_job, "trigger": CronTrigger(minute=5), "id": "cron"},
                interval_item("given", next_run_time=at),
            ],
            replace_existing=True,
        )
        times = {job.id: job.next_run_time for job in sched.get_jobs()}
    finally:
        sched.shutdown()
    assert times == {
        "same": T0,  # not 13:00, the first run after now with a new trigger
        "cron": T0 + timedelta(minutes=65),
        "given": at,
    }


def test_listeners_get_one_job_added_event_per_job(scheduler: BackgroundScheduler) -> None:
    got: list[SchedulerEvent] = []
    three = threading.Event()

    def listen(event: SchedulerEvent) -> None:
        got.append(event)
        if len(got) == 3:
            three.set()

    scheduler.add_listener(listen, EVENT_JOB_ADDED)
    scheduler.add_jobs(interval_item(i) for i in ("a", "b", "c"))
    assert three.wait(5), f"only {len(got)} events arrived"
    assert [getattr(e, "job_id", None) for e in got] == ["a", "b", "c"]


def test_chunks_before_a_failing_item_are_stored_and_repeats_across_chunks_conflict() -> None:
    store = MemoryJobStore()
    builder = BulkBuilder(JobDefaults(), UTC, T0)
    chunks: list[list[Job]] = []
    items = [interval_item(i) for i in ("a", "b", "c", "a")]
    with pytest.raises(ConflictingIdError, match="'a'"):
        add_in_chunks(
            store, items, builder, replace_existing=False, added=chunks.append, chunk_size=2
        )
    assert [[job.id for job in chunk] for chunk in chunks] == [["a", "b"]]
    assert [job.id for job in store.get_jobs()] == ["a", "b"]
