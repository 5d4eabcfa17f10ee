"""A crash between publish and commit republishes the same run ids and loses no run."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import pytest

from dueq.shared.protocol import RunRequest
from dueq.shared.topology import Topology
from tests.integration.producer.conftest import MakeScheduler
from tests.integration.producer.producer_support import RunCollector

HANGING_SCHEDULER = Path(__file__).with_name("hanging_scheduler.py")
# Short, so a killed leader's lease runs out quickly in these tests.
LEASE_SECONDS = "2"


def contiguous(runs: list[RunRequest], step: timedelta) -> bool:
    """True if the distinct scheduled times follow each other ``step`` apart (no gap)."""
    times = sorted({run.scheduled_at for run in runs})
    return all(b - a == step for a, b in pairwise(times))


def test_a_failure_between_publish_and_commit_republishes_the_same_runs(
    database_url: str, make_scheduler: MakeScheduler, rabbitmq_url: str, topology: Topology
) -> None:
    batches: list[list[str]] = []

    def fail_once(runs: list[RunRequest]) -> None:
        batches.append([run.run_id for run in runs])
        if len(batches) == 1:
            raise RuntimeError("injected crash between publish and commit")

    scheduler = make_scheduler(database_url, after_publish=fail_once)
    with RunCollector(rabbitmq_url, topology) as collector:
        scheduler.add_job("pkg.jobs:tick", "interval", seconds=0.5, id="j", coalesce=False)
        scheduler.start()
        crashed = collector.wait_for(lambda rs: len(rs) >= 1, "the first publish")[0]
        runs = collector.wait_for(
            lambda rs: sum(r.run_id == crashed.run_id for r in rs) == 2 and len(rs) >= 4,
            "the same run published again, then more",
        )
    assert batches[1][0] == crashed.run_id
    assert contiguous(runs, timedelta(seconds=0.5))


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts; any still running afterwards are killed."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def scheduler_env(rabbitmq_url: str, database_url: str, topology: Topology) -> dict[str, str]:
    return {
        **os.environ,
        "DUEQ_BROKER_URL": rabbitmq_url,
        "DUEQ_DATABASE_URL": database_url,
        "DUEQ_PREFIX": topology.prefix,
        "DUEQ_LEASE_SECONDS": LEASE_SECONDS,
    }


def read_line(process: subprocess.Popen[str], timeout: float = 20.0) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, "the scheduler process printed nothing"
    return process.stdout.readline()


def test_a_scheduler_killed_between_publish_and_commit_loses_no_run_after_restart(
    pg_schema_url: str,
    make_scheduler: MakeScheduler,
    rabbitmq_url: str,
    topology: Topology,
    processes: list[subprocess.Popen[str]],
) -> None:
    client = make_scheduler(pg_schema_url)
    client.add_job("pkg.jobs:tick", "interval", seconds=1, id="j", coalesce=False)
    env = scheduler_env(rabbitmq_url, pg_schema_url, topology)
    with RunCollector(rabbitmq_url, topology) as collector:
        hanging = subprocess.Popen(
            [sys.executable, str(HANGING_SCHEDULER)], env=env, stdout=subprocess.PIPE, text=True
        )
        processes.append(hanging)
        published = json.loads(read_line(hanging))
        hanging.send_signal(signal.SIGKILL)
        hanging.wait(10)
        lost = collector.wait_for(lambda rs: len(rs) >= len(published), "the published runs")
        assert [run.run_id for run in lost] == published
        first = min(run.scheduled_at for run in lost)
        stored = client.get_job("j")
        assert stored is not None
        assert stored.next_run_time == first  # the commit never happened

        restarted = subprocess.Popen(
            [sys.executable, "-m", "dueq", "scheduler"], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        processes.append(restarted)
        runs = collector.wait_for(
            lambda rs: (
                all(sum(r.run_id == i for r in rs) == 2 for i in published)
                and len(rs) >= 2 * len(published) + 2
            ),
            "the lost runs published again, then the next ones",
        )
        restarted.send_signal(signal.SIGTERM)
        assert restarted.wait(20) == 0
    assert contiguous(runs, timedelta(seconds=1))
    assert min(r.scheduled_at for r in runs) == first
