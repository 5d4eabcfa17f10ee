"""Every configuration form APScheduler 3 documents, as APScheduler code writes it.

Job stores and executors given as objects are recognised by class name, so the stand-ins
below (named like APScheduler's classes) are what APScheduler code hands over.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import pytz
import sqlalchemy as sa

from dueq import BackgroundScheduler, ConfigError, SchedulerAlreadyRunningError


class SQLAlchemyJobStore:  # APScheduler's class name; it keeps the engine it was given
    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url)


class ThreadPoolExecutor:
    def __init__(self, max_workers: int = 10) -> None:
        self.max_workers = max_workers


class ProcessPoolExecutor(ThreadPoolExecutor):
    pass


class MongoDBJobStore:
    pass


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'jobs.sqlite'}"


@pytest.fixture
def made() -> Iterator[list[BackgroundScheduler]]:
    """Schedulers a test made, shut down after it."""
    schedulers: list[BackgroundScheduler] = []
    yield schedulers
    for scheduler in schedulers:
        scheduler.shutdown()


def _make(made: list[BackgroundScheduler], *args: Any, **kwargs: Any) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(*args, **kwargs)
    made.append(scheduler)
    return scheduler


def test_keyword_arguments_with_objects(made: list[BackgroundScheduler], db_url: str) -> None:
    scheduler = _make(
        made,
        jobstores={"default": SQLAlchemyJobStore(url=db_url)},
        executors={"default": ThreadPoolExecutor(20), "processpool": ProcessPoolExecutor(5)},
        job_defaults={"coalesce": False, "max_instances": 3},
        timezone=pytz.utc,
    )
    assert scheduler.settings.database_url.reveal() == db_url
    assert scheduler.settings.job_defaults.coalesce is False
    assert scheduler.settings.job_defaults.max_instances == 3
    assert scheduler.settings.timezone == "UTC"


def test_a_prefixed_gconfig_dict_passed_positionally(
    made: list[BackgroundScheduler], db_url: str
) -> None:
    scheduler = _make(
        made,
        {
            "apscheduler.jobstores.default": {"type": "sqlalchemy", "url": db_url},
            "apscheduler.executors.default": {
                "class": "apscheduler.executors.pool:ThreadPoolExecutor",
                "max_workers": "20",
            },
            "apscheduler.executors.processpool": {"type": "processpool", "max_workers": "5"},
            "apscheduler.job_defaults.coalesce": "false",
            "apscheduler.job_defaults.max_instances": "3",
            "apscheduler.timezone": "Asia/Shanghai",
        },
    )
    assert scheduler.settings.database_url.reveal() == db_url
    assert scheduler.settings.job_defaults.coalesce is False
    assert scheduler.settings.job_defaults.max_instances == 3
    assert scheduler.settings.timezone == "Asia/Shanghai"


def test_gconfig_by_name_with_flat_dotted_job_store_keys(
    made: list[BackgroundScheduler], db_url: str
) -> None:
    scheduler = _make(
        made,
        gconfig={
            "apscheduler.jobstores.default.type": "sqlalchemy",
            "apscheduler.jobstores.default.url": db_url,
        },
    )
    assert scheduler.settings.database_url.reveal() == db_url


def test_options_without_meaning_here_are_accepted(made: list[BackgroundScheduler]) -> None:
    scheduler = _make(made, daemon=True, jobstore_retry_interval=5, logger=None)
    assert scheduler.settings.timezone  # built, nothing refused


def test_a_memory_job_store_is_dueqs_in_process_store(made: list[BackgroundScheduler]) -> None:
    scheduler = _make(made, jobstores={"default": {"type": "memory"}})
    assert scheduler.settings.database_url.reveal() == "memory://"


def test_configure_before_start_overlays_what_was_given(
    made: list[BackgroundScheduler], db_url: str, memory_broker_url: str
) -> None:
    scheduler = _make(made, broker_url=memory_broker_url, job_defaults={"coalesce": False})
    scheduler.configure(
        {"apscheduler.jobstores.default": {"type": "sqlalchemy", "url": db_url}},
        job_defaults={"max_instances": 4},
        timezone=timezone(timedelta(hours=8)),
    )
    settings = scheduler.settings
    assert settings.database_url.reveal() == db_url
    assert (settings.job_defaults.coalesce, settings.job_defaults.max_instances) == (False, 4)
    assert settings.timezone == "Etc/GMT-8"


def test_configure_after_start_is_refused(
    made: list[BackgroundScheduler], memory_broker_url: str
) -> None:
    scheduler = _make(made, database_url="memory://", broker_url=memory_broker_url)
    scheduler.start(paused=True)
    with pytest.raises(SchedulerAlreadyRunningError):
        scheduler.configure(timezone="UTC")


@pytest.mark.parametrize(
    ("options", "hint"),
    [
        ({"jobstores": {"mongo": MongoDBJobStore()}}, "use {'type': 'sqlalchemy'"),
        ({"jobstores": {"default": {"type": "redis"}}}, "dueq keeps jobs in SQL"),
        ({"executors": {"default": {"type": "gevent"}}}, "use 'threadpool', 'processpool'"),
        ({"jobstores": {"a": "sqlalchemy", "b": "memory"}}, "needs a 'url'"),
        (
            {"jobstores": {"a": {"type": "memory"}, "b": {"type": "sqlalchemy", "url": "x"}}},
            "one database",
        ),
    ],
    ids=["mongodb", "redis", "gevent", "no-url", "two-databases"],
)
def test_what_dueq_cannot_honour_fails_with_one_line_naming_what_to_use(
    options: dict[str, Any], hint: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        BackgroundScheduler(**options)
    message = str(caught.value)
    assert hint in message
    assert "\n" not in message
