"""Runs published ahead of their time to workers with a database: held by the gate, claimed
up to the claim lead before their instant (again at it if the job is at max_instances then),
started at their instant, never before it."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dueq.shared.protocol import RunRequest
from tests.integration.worker.conftest import WorkerFactory
from tests.jobs_for_tests.harness import JOBS, BrokerProbe, make_run
from tests.support.waiting import wait_until

# How far ahead of its instant a run is published: long enough for the test to act while
# the worker holds it, on a loaded 2-core host.
LEAD_S = 3.0


def _starts(directory: Path) -> list[float]:
    return [json.loads(p.read_text())["start"] for p in directory.glob("*.json")]


def _claim_column(url: str, run_id: str, column: str) -> Callable[[], Any]:
    """A reader of one column of ``run_id``'s claim (None while it has none)."""
    query = sa.text(f"SELECT {column} FROM dueq_claims WHERE run_id = :r")

    def read() -> Any:
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                return conn.execute(query, {"r": run_id}).scalar()
        finally:
            engine.dispose()

    return read


@dataclass(frozen=True)
class HeldBehind:
    """A run of job "one" held for ``at`` while an earlier run of it waits for ``release``."""

    first: RunRequest
    held: RunRequest
    release: Path
    at: datetime

    def end_the_first_and_see_the_held_one_run(
        self, probe: BrokerProbe, url: str, directory: Path
    ) -> None:
        """End the first run before ``at``; the held one must run at ``at``, not be refused."""
        self.release.touch()
        status = _claim_column(url, self.first.run_id, "status")
        wait_until(
            lambda: status() == "finished", "the first run's claim to finish", timeout=LEAD_S
        )
        assert datetime.now(UTC) < self.at, "the first run ended too late to prove anything"
        probe.wait_event(self.held.run_id, "job_executed")
        assert probe.of_run(self.held.run_id, "job_max_instances") == []
        (start,) = _starts(directory)
        assert start >= self.at.timestamp()


def _held_behind_a_running_run(probe: BrokerProbe, directory: Path) -> HeldBehind:
    """Start a run of job "one" (max_instances 1) that waits, then publish one held."""
    release = directory / "release"
    first = make_run(f"{JOBS}:wait_for_file", job_id="one", kwargs={"marker": str(release)})
    probe.publish(first)
    probe.wait_event(first.run_id, "job_started")
    at = datetime.now(UTC) + timedelta(seconds=LEAD_S)
    held = make_run(
        f"{JOBS}:record_instance",
        job_id="one",
        scheduled_at=at,
        kwargs={"directory": str(directory), "seconds": 0},
    )
    probe.publish(held)
    return HeldBehind(first, held, release, at)


def test_a_run_published_early_starts_at_its_scheduled_time_and_not_before(
    probe: BrokerProbe, start_worker: WorkerFactory, pg_schema_url: str, tmp_path: Path
) -> None:
    start_worker(database_url=pg_schema_url, concurrency=2)
    at = datetime.now(UTC) + timedelta(seconds=1)
    run = make_run(
        f"{JOBS}:record_instance",
        scheduled_at=at,
        kwargs={"directory": str(tmp_path), "seconds": 0},
    )
    probe.publish(run)
    probe.wait_event(run.run_id, "job_executed")
    assert probe.wait_start(run.run_id) >= at
    (start,) = _starts(tmp_path)
    assert start >= at.timestamp()


def test_a_held_run_is_claimed_at_its_instant_so_an_instance_freed_before_it_is_its(
    probe: BrokerProbe, start_worker: WorkerFactory, pg_schema_url: str, tmp_path: Path
) -> None:
    start_worker(database_url=pg_schema_url, concurrency=2)
    one = _held_behind_a_running_run(probe, tmp_path)
    wait_until(lambda: probe.depth() == 0, "the early run delivered to the worker", timeout=5)
    one.end_the_first_and_see_the_held_one_run(probe, pg_schema_url, tmp_path)


# A claim lead long enough to tell a claim before the instant from one at it on a loaded host.
CLAIM_LEAD_S = 1.0


def test_a_held_run_is_claimed_the_claim_lead_before_its_instant_and_started_at_it(
    probe: BrokerProbe, start_worker: WorkerFactory, pg_schema_url: str, tmp_path: Path
) -> None:
    start_worker(database_url=pg_schema_url, concurrency=2, claim_lead=CLAIM_LEAD_S)
    at = datetime.now(UTC) + timedelta(seconds=LEAD_S)
    run = make_run(
        f"{JOBS}:record_instance",
        scheduled_at=at,
        kwargs={"directory": str(tmp_path), "seconds": 0},
    )
    probe.publish(run)
    claimed_at = _claim_column(pg_schema_url, run.run_id, "claimed_at")
    wait_until(lambda: claimed_at() is not None, "the run to be claimed", timeout=LEAD_S)
    assert claimed_at().replace(tzinfo=UTC) < at  # stored naive UTC
    probe.wait_event(run.run_id, "job_executed")
    (start,) = _starts(tmp_path)
    assert start >= at.timestamp()


def test_a_run_an_early_claim_finds_at_max_instances_is_claimed_again_at_its_instant(
    probe: BrokerProbe,
    start_worker: WorkerFactory,
    pg_schema_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="dueq.worker.admission")
    start_worker(database_url=pg_schema_url, concurrency=2, claim_lead=CLAIM_LEAD_S)
    one = _held_behind_a_running_run(probe, tmp_path)

    def refused_early() -> bool:
        return any("claiming again at it" in r.getMessage() for r in caplog.records)

    wait_until(refused_early, "the early claim to find the job at max_instances", timeout=LEAD_S)
    one.end_the_first_and_see_the_held_one_run(probe, pg_schema_url, tmp_path)
