"""``dueq runs`` and ``dueq workers``: history and liveness as the scheduler recorded them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from dueq.shared.db import create_engine, upgrade_schema
from dueq.shared.tables import runs, workers
from tests.unit.producer.cli.conftest import Dueq

NOW = datetime.now(UTC).replace(microsecond=0)
TRACEBACK = (
    'Traceback (most recent call last):\n  File "jobs.py", line 3\nValueError: no customer\n'
)


@pytest.fixture
def database(sqlite_url: str) -> Iterator[sa.Engine]:
    engine = create_engine(sqlite_url)
    upgrade_schema(engine)
    yield engine
    engine.dispose()


def add_run(engine: sa.Engine, run_id: str, job_id: str, status: str, minutes_ago: int,
            **values: Any) -> None:  # fmt: skip
    row = {
        "run_id": run_id, "job_id": job_id, "status": status, "redelivered": False,
        "scheduled_at": NOW - timedelta(minutes=minutes_ago), "updated_at": NOW, **values,
    }  # fmt: skip
    with engine.begin() as conn:
        conn.execute(runs.insert().values(row))


def add_worker(engine: sa.Engine, worker_id: str, status: str, seen_ago: timedelta) -> None:
    row = {
        "worker_id": worker_id, "hostname": "host-1", "pid": 4242, "queues": ["default"],
        "concurrency": 8, "running": 1, "status": status, "started_at": NOW - timedelta(hours=1),
        "last_seen_at": datetime.now(UTC) - seen_ago,
    }  # fmt: skip
    with engine.begin() as conn:
        conn.execute(workers.insert().values(row))


@pytest.fixture
def history(database: sa.Engine) -> sa.Engine:
    add_run(database, "r1", "report", "executed", 3, retval={"rows": 12}, duration_s=0.25,
            worker_id="w-1")  # fmt: skip
    add_run(database, "r2", "report", "error", 2, exception_type="ValueError",
            exception_message="no customer", traceback=TRACEBACK, worker_id="w-2")  # fmt: skip
    add_run(database, "r3", "cleanup", "missed", 1)
    add_run(database, "r4", "cleanup", "submitted", 0)
    return database


def test_runs_lists_newest_first_with_results(history: sa.Engine, dueq: Dueq) -> None:
    result = dueq("runs")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "4 run(s)" in lines[0]
    ids = ("r1", "r2", "r3", "r4")
    order = [next(r for r in ids if f" {r} " in line) for line in lines if "report" in line
             or "cleanup" in line]  # fmt: skip
    assert order == ["r4", "r3", "r2", "r1"]
    assert "{'rows': 12}" in result.stdout
    assert "ValueError: no customer" in result.stdout
    assert "Traceback" not in result.stdout


def test_runs_filters_by_job_status_and_limit(
    history: sa.Engine, dueq_json: Callable[..., Any]
) -> None:
    assert [r["run_id"] for r in dueq_json("runs", "--job", "report")] == ["r2", "r1"]
    assert [r["run_id"] for r in dueq_json("runs", "--status", "error")] == ["r2"]
    both = dueq_json("runs", "--status", "missed", "--status", "executed")
    assert [r["run_id"] for r in both] == ["r3", "r1"]
    assert [r["run_id"] for r in dueq_json("runs", "--limit", "1")] == ["r4"]
    assert dueq_json("runs", "--job", "report", "--status", "missed") == []


def test_runs_filters_by_a_window_of_scheduled_times(
    history: sa.Engine, dueq_json: Callable[..., Any]
) -> None:
    def at(minutes_ago: float) -> str:
        return (NOW - timedelta(minutes=minutes_ago)).isoformat()

    window = dueq_json("runs", "--since", at(2.5), "--until", at(0.5))
    naive_since = (NOW - timedelta(minutes=1.5)).replace(tzinfo=None).isoformat()
    assert [r["run_id"] for r in window] == ["r3", "r2"]
    assert [r["run_id"] for r in dueq_json("runs", "--since", naive_since)] == ["r4", "r3"]


def test_failures_show_their_traceback_on_request(history: sa.Engine, dueq: Dueq) -> None:
    result = dueq("runs", "--status", "error", "--show-traceback")
    assert result.exit_code == 0
    assert 'File "jobs.py", line 3' in result.stdout
    assert "report run r2" in result.stdout


def test_an_unknown_status_is_a_usage_error(dueq: Dueq) -> None:
    result = dueq("runs", "--status", "exploded")
    assert result.exit_code == 2
    assert "'exploded' is not one of" in result.stderr


def test_workers_lists_the_live_ones_and_all_on_request(
    database: sa.Engine, dueq: Dueq, dueq_json: Callable[..., Any]
) -> None:
    add_worker(database, "w-live", "online", timedelta(seconds=2))
    add_worker(database, "w-silent", "online", timedelta(minutes=5))
    add_worker(database, "w-gone", "offline", timedelta(seconds=1))
    assert [w["worker_id"] for w in dueq_json("workers")] == ["w-live"]
    states = {w["worker_id"]: w["state"] for w in dueq_json("workers", "--all")}
    assert states == {"w-live": "live", "w-silent": "lost", "w-gone": "offline"}
    table = dueq("workers").stdout
    assert "w-live" in table
    assert "1/8" in table  # running / concurrency


def test_the_live_window_follows_the_heartbeat_interval(
    database: sa.Engine, dueq_json: Callable[..., Any]
) -> None:
    add_worker(database, "w", "online", timedelta(seconds=40))
    assert dueq_json("workers") == []  # 3 x 10 s default
    assert len(dueq_json("workers", "--heartbeat-interval", "20s")) == 1


def test_the_memory_history_filters_by_status_like_the_sql_one() -> None:
    from dueq.producer.history import MemoryRunHistory, RunStatus
    from dueq.producer.store.base import SubmittedRun

    memory = MemoryRunHistory()
    memory.add_submitted(
        [SubmittedRun(run_id=f"r{i}", job_id="j", scheduled_at=NOW + timedelta(seconds=i),
                      published_at=NOW) for i in range(3)]
    )  # fmt: skip
    assert [r.run_id for r in memory.get_runs(statuses=[RunStatus.SUBMITTED])] == ["r2", "r1", "r0"]
    assert memory.get_runs(statuses=[RunStatus.ERROR]) == []
    assert [r.run_id for r in memory.get_runs("j", 1, statuses=None)] == ["r2"]
