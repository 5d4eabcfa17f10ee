"""Every started scheduler's listeners hear every job outcome once; history is written once.

Two scheduler processes share one database and broker prefix, as APScheduler code that
starts a scheduler in each process would.  Only one leads and consumes the events queue,
yet both processes' listeners hear each outcome exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dueq import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from dueq.producer import Scheduler
from dueq.shared.protocol import (
    ExceptionInfo,
    JobError,
    JobExecuted,
    JobMissed,
    JobStarted,
    WorkerOnline,
    encode,
    make_run_id,
)
from dueq.shared.topology import Topology
from tests.integration.producer.producer_support import DEADLINE_S
from tests.integration.producer.test_producer_events import send
from tests.support.waiting import wait_until

T0 = datetime(2024, 1, 1, 12, tzinfo=UTC)
WORKER: dict[str, Any] = {"worker_id": "w1", "hostname": "host-1", "pid": 42, "emitted_at": T0}
SCRIPT_MODULE = "tests.integration.producer.listening_scheduler"
REPO = Path(__file__).parents[3]


def _about(index: int) -> dict[str, Any]:
    job_id = f"job-{index}"
    return {**WORKER, "run_id": make_run_id(job_id, T0), "job_id": job_id, "scheduled_at": T0}


def _reports() -> tuple[list[bytes], set[tuple[int, str]]]:
    """Five outcomes (and two events listeners never hear), with what listeners expect."""
    timing: dict[str, Any] = {
        "started_at": T0,
        "finished_at": T0,
        "duration_s": 0.0,
        "lateness_s": 0.1,
    }
    error = ExceptionInfo(type="ValueError", message="bad", traceback="Traceback ...")
    events = [
        JobExecuted(**_about(0), **timing, retval=1),
        JobExecuted(**_about(1), **timing, retval=2),
        JobExecuted(**_about(2), **timing, retval=None),
        JobError(**_about(3), **timing, exception=error),
        JobMissed(**_about(4), lateness_s=9.0, misfire_grace_time=5.0),
        JobStarted(**_about(5), started_at=T0, lateness_s=0.1),
        WorkerOnline(**WORKER, queues=["default"], concurrency=1, executor="thread", version="1"),
    ]
    codes = [EVENT_JOB_EXECUTED] * 3 + [EVENT_JOB_ERROR, EVENT_JOB_MISSED]
    expected = {(code, _about(i)["run_id"]) for i, code in enumerate(codes)}
    return [encode(event) for event in events], expected


def _add_jobs(database_url: str, broker_url: str, topology: Topology) -> None:
    """The jobs the reports are about, never due, through a client that is not started."""
    client = Scheduler(database_url=database_url, broker_url=broker_url, prefix=topology.prefix)
    try:
        for index in range(6):
            job_id = _about(index)["job_id"]
            client.add_job("pkg.jobs:work", "interval", hours=1000, id=job_id)
    finally:
        client.shutdown()


class _Scheduler:
    def __init__(self, name: str, env: dict[str, str], tmp_path: Path) -> None:
        self.log = tmp_path / f"{name}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", SCRIPT_MODULE], env=env, cwd=REPO, stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip

    def lines(self) -> list[dict[str, Any]]:
        found = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                found.append(json.loads(line))
        return found

    def heard(self) -> list[tuple[int, str]]:
        return [(line["code"], line["run_id"]) for line in self.lines() if "code" in line]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=DEADLINE_S)


@pytest.fixture
def schedulers(
    pg_schema_url: str, rabbitmq_url: str, topology: Topology, tmp_path: Path
) -> Iterator[list[_Scheduler]]:
    env = {**os.environ, "DUEQ_DATABASE_URL": pg_schema_url, "DUEQ_BROKER_URL": rabbitmq_url,
           "DUEQ_PREFIX": topology.prefix, "DUEQ_LEASE_SECONDS": "3"}  # fmt: skip
    started = [_Scheduler(name, env, tmp_path) for name in ("first", "second")]
    yield started
    for scheduler in started:
        scheduler.stop()


def test_both_processes_listeners_hear_every_outcome_once_and_history_is_written_once(
    schedulers: list[_Scheduler], rabbitmq_url: str, topology: Topology, pg_schema_url: str
) -> None:
    def tails() -> str:
        return "".join(f"\n--- {s.log.name}:\n{s.log.read_text()[-2000:]}" for s in schedulers)

    for scheduler in schedulers:
        wait_until(
            lambda s=scheduler: {"listening": True} in s.lines(),  # type: ignore[misc]
            f"{scheduler.log.name} listening", timeout=DEADLINE_S, describe=tails,
        )  # fmt: skip
    _add_jobs(pg_schema_url, rabbitmq_url, topology)  # history records runs of existing jobs
    bodies, expected = _reports()
    send(rabbitmq_url, topology, bodies)
    for scheduler in schedulers:
        wait_until(
            lambda s=scheduler: set(s.heard()) == expected,  # type: ignore[misc]
            f"{scheduler.log.name} hearing all outcomes", timeout=DEADLINE_S, describe=tails,
        )  # fmt: skip
    for scheduler in schedulers:
        scheduler.stop()  # listeners get what is still queued before the process ends
    for scheduler in schedulers:
        assert sorted(scheduler.heard()) == sorted(expected), tails()
    engine = sa.create_engine(pg_schema_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT run_id FROM dueq_runs")).scalars().all()
    finally:
        engine.dispose()
    assert sorted(rows) == sorted(_about(i)["run_id"] for i in range(6))
