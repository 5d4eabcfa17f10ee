"""Naive datetimes and the default zone, read as APScheduler 3 reads them.

The process's local zone (``TZ``) is the default; the zone is stored by name with the job
(in its trigger), so a scheduler in another zone runs it at the same instants.
``DUEQ_TIMEZONE`` and ``timezone=`` override the local zone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dueq import BackgroundScheduler, CronTrigger
from dueq.shared.localzone import local_zone_name

SHANGHAI_8AM = datetime(2030, 1, 1, 8, 0)  # naive, as APScheduler code writes it
AS_UTC = datetime(2030, 1, 1, 0, 0, tzinfo=UTC)


def work() -> None:
    pass


@pytest.fixture
def shanghai(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    monkeypatch.delenv("DUEQ_TIMEZONE", raising=False)


@pytest.fixture
def sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'jobs.sqlite'}"


@pytest.fixture
def client(shanghai: None, sqlite: str, memory_broker_url: str) -> Iterator[BackgroundScheduler]:
    scheduler = BackgroundScheduler(database_url=sqlite, broker_url=memory_broker_url)
    yield scheduler
    scheduler.shutdown()


def test_the_default_zone_is_the_local_zone(client: BackgroundScheduler) -> None:
    assert client.settings.timezone == "Asia/Shanghai"


def test_a_naive_run_date_is_local_time(client: BackgroundScheduler) -> None:
    job = client.add_job(work, "date", run_date=SHANGHAI_8AM, id="once")
    assert job.next_run_time == AS_UTC
    assert job.trigger.to_dict()["timezone"] == "Asia/Shanghai"


def test_a_naive_next_run_time_is_local_time(client: BackgroundScheduler) -> None:
    job = client.add_job(work, "interval", hours=1, next_run_time=SHANGHAI_8AM, id="i")
    assert job.next_run_time == AS_UTC
    assert client.modify_job("i", next_run_time=SHANGHAI_8AM).next_run_time == AS_UTC


def test_a_trigger_built_without_a_zone_is_local(client: BackgroundScheduler) -> None:
    job = client.add_job(work, CronTrigger(hour=8), id="c")
    assert job.trigger.to_dict()["timezone"] == "Asia/Shanghai"
    assert job.next_run_time is not None
    assert job.next_run_time.astimezone(UTC).hour == 0


@pytest.mark.parametrize("how", ["env", "argument"])
def test_dueq_timezone_and_the_timezone_argument_override_the_local_zone(
    shanghai: None, monkeypatch: pytest.MonkeyPatch, memory_broker_url: str, how: str
) -> None:
    options: dict[str, Any] = {"timezone": "Europe/Berlin"} if how == "argument" else {}
    if how == "env":
        monkeypatch.setenv("DUEQ_TIMEZONE", "Europe/Berlin")
    scheduler = BackgroundScheduler(
        database_url="memory://", broker_url=memory_broker_url, **options
    )
    try:
        job = scheduler.add_job(work, "date", run_date=datetime(2030, 1, 1, 1, 0))
        assert job.next_run_time == AS_UTC
    finally:
        scheduler.shutdown()


def test_tz_is_read_as_a_name_a_path_or_not_at_all() -> None:
    assert local_zone_name({"TZ": ":Asia/Shanghai"}) == "Asia/Shanghai"
    assert local_zone_name({"TZ": "/usr/share/zoneinfo/Asia/Shanghai"}) == "Asia/Shanghai"
    assert local_zone_name({"TZ": "Etc/UTC"}) == "UTC"
    assert local_zone_name({"TZ": "CST-8"}) == "UTC"  # a POSIX rule names no zone


_ADD = """
import sys
from datetime import datetime
from dueq import BackgroundScheduler
s = BackgroundScheduler(database_url=sys.argv[1], broker_url=sys.argv[2])
s.add_job("os:getpid", "date", run_date=datetime(2030, 1, 1, 8, 0), id="once")
s.shutdown()
"""


def test_a_job_added_in_shanghai_runs_at_the_same_instant_for_a_utc_scheduler(
    sqlite: str, memory_broker_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**os.environ, "TZ": "Asia/Shanghai"}
    env.pop("DUEQ_TIMEZONE", None)
    subprocess.run(
        [sys.executable, "-c", _ADD, sqlite, memory_broker_url], env=env, check=True, timeout=60
    )
    monkeypatch.setenv("TZ", "UTC")
    reader = BackgroundScheduler(database_url=sqlite, broker_url=memory_broker_url)
    try:
        job = reader.get_job("once")
        assert job is not None
        assert job.next_run_time == AS_UTC
        assert reader.settings.timezone == "UTC"
    finally:
        reader.shutdown()
