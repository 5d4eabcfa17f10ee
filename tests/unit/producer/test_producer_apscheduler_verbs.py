"""APScheduler 3's verb signatures: ``jobstore=``/``executor=`` and the ``Job`` methods."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dueq import (
    EVENT_ALL,
    EVENT_EXECUTOR_ADDED,
    EVENT_EXECUTOR_REMOVED,
    EVENT_JOBSTORE_ADDED,
    EVENT_JOBSTORE_REMOVED,
    BackgroundScheduler,
    ConfigError,
    JobLookupError,
)
from dueq.shared.triggers import CronTrigger

T0 = datetime(2030, 1, 1, 12, tzinfo=UTC)


def work(x: int = 0) -> int:
    return x


@pytest.fixture
def scheduler(memory_broker_url: str) -> Iterator[BackgroundScheduler]:
    sched = BackgroundScheduler(
        database_url="memory://",
        broker_url=memory_broker_url,
        jobstores={"default": {"type": "memory"}, "other": {"type": "memory"}},
        timezone="UTC",
    )
    yield sched
    sched.shutdown()


def test_every_verb_takes_a_jobstore_alias(scheduler: BackgroundScheduler) -> None:
    job = scheduler.add_job(work, "interval", hours=1, id="j", jobstore="other")
    assert scheduler.get_job("j", jobstore="other") == job
    assert scheduler.get_jobs(jobstore="default") == [job]
    assert scheduler.modify_job("j", jobstore="other", args=[2]).args == (2,)
    assert scheduler.reschedule_job("j", jobstore="other", trigger="cron", hour=3) is not None
    assert scheduler.pause_job("j", jobstore="other").next_run_time is None
    assert scheduler.resume_job("j", jobstore="other") is not None
    scheduler.print_jobs(jobstore="other")
    scheduler.remove_job("j", jobstore="other")
    scheduler.remove_all_jobs(jobstore="other")
    assert scheduler.get_jobs(pending=True) == []


def test_an_unknown_jobstore_alias_is_refused(scheduler: BackgroundScheduler) -> None:
    with pytest.raises(ConfigError, match="no job store 'mongo'"):
        scheduler.add_job(work, "interval", hours=1, jobstore="mongo")


def test_an_executor_alias_names_the_queue(scheduler: BackgroundScheduler) -> None:
    job = scheduler.add_job(work, "interval", hours=1, id="p", executor="processpool")
    assert (job.queue, job.executor) == ("processpool", "processpool")
    assert scheduler.add_job(work, "interval", hours=1, executor="default").queue == "default"
    assert scheduler.modify_job("p", executor="default").queue == "default"
    assert scheduler.modify_job("p", executor="reports").queue == "reports"


def test_an_explicit_queue_wins_over_the_executor(scheduler: BackgroundScheduler) -> None:
    job = scheduler.add_job(work, "interval", hours=1, executor="processpool", queue="slow")
    assert job.queue == "slow"


def test_job_methods_act_through_the_scheduler(scheduler: BackgroundScheduler) -> None:
    job = scheduler.add_job(work, "interval", hours=1, id="j")
    assert job.modify(max_instances=3).max_instances == 3
    assert scheduler.get_job("j").max_instances == 3  # type: ignore[union-attr]
    rescheduled = job.reschedule("cron", minute=5)
    assert isinstance(rescheduled.trigger, CronTrigger)
    assert job.pause().next_run_time is None
    resumed = job.resume()
    assert resumed is not None
    assert resumed.next_run_time is not None
    job.remove()
    with pytest.raises(JobLookupError):
        job.modify(args=[1])


def test_jobs_from_get_jobs_have_the_methods_too(scheduler: BackgroundScheduler) -> None:
    scheduler.add_job(work, "interval", hours=1, id="j")
    (job,) = scheduler.get_jobs()
    job.modify(next_run_time=T0)
    assert scheduler.get_job("j").next_run_time == T0  # type: ignore[union-attr]


def test_modify_job_with_trigger_arguments_points_to_reschedule_job(
    scheduler: BackgroundScheduler,
) -> None:
    scheduler.add_job(work, "interval", hours=1, id="j")
    with pytest.raises(ConfigError, match=r"use reschedule_job\('j', trigger=..., seconds=...\)"):
        scheduler.modify_job("j", seconds=30)


def test_job_store_and_executor_verbs_check_what_apscheduler_code_adds(
    scheduler: BackgroundScheduler,
) -> None:
    heard: list[tuple[int, str | None]] = []
    scheduler.add_listener(lambda event: heard.append((event.code, event.alias)), EVENT_ALL)
    scheduler.add_jobstore("memory", alias="archive")  # the same, one store
    scheduler.add_job(work, "interval", hours=1, id="a", jobstore="archive")
    scheduler.remove_jobstore("archive")
    with pytest.raises(ConfigError, match="no job store 'archive'"):
        scheduler.get_job("a", jobstore="archive")
    with pytest.raises(ConfigError, match="one store"):
        scheduler.remove_jobstore("default")
    scheduler.add_executor("processpool", alias="cpu", max_workers=4)
    scheduler.remove_executor("cpu")
    with pytest.raises(ConfigError, match="gevent"):
        scheduler.add_executor("gevent", alias="green")
    scheduler.shutdown()  # delivers the queued events
    assert [(code, alias) for code, alias in heard if alias] == [
        (EVENT_JOBSTORE_ADDED, "archive"),
        (EVENT_JOBSTORE_REMOVED, "archive"),
        (EVENT_EXECUTOR_ADDED, "cpu"),
        (EVENT_EXECUTOR_REMOVED, "cpu"),
    ]


def test_a_job_store_naming_another_database_is_refused_while_running(
    scheduler: BackgroundScheduler, tmp_path: Path
) -> None:
    scheduler.start(paused=True)
    with pytest.raises(ConfigError, match="another database"):
        scheduler.add_jobstore("sqlalchemy", alias="x", url=f"sqlite:///{tmp_path / 'x.db'}")
    scheduler.add_jobstore({"type": "memory"}, alias="same")


def test_add_jobstore_before_start_sets_the_database(
    memory_broker_url: str, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.sqlite'}"
    scheduler = BackgroundScheduler(broker_url=memory_broker_url)
    try:
        scheduler.add_jobstore("sqlalchemy", url=url)
        assert scheduler.settings.database_url.reveal() == url
    finally:
        scheduler.shutdown()


def test_a_job_whose_trigger_never_fires_is_added_paused_with_a_warning(
    scheduler: BackgroundScheduler, caplog: pytest.LogCaptureFixture
) -> None:
    ended = datetime(2020, 1, 1, tzinfo=UTC)
    with caplog.at_level("WARNING", logger="dueq.producer.scheduler"):
        job = scheduler.add_job(work, "interval", seconds=5, end_date=ended, id="never")
    assert job.next_run_time is None
    assert "job never was added paused: its trigger never fires" in caplog.text
