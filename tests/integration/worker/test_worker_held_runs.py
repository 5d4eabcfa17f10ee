"""Runs published ahead of their time to workers with a database: held by the gate, claimed
and started at their instant, never before it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from tests.integration.worker.conftest import WorkerFactory
from tests.jobs_for_tests.harness import JOBS, BrokerProbe, make_run
from tests.support.waiting import wait_until

# How far ahead of its instant a run is published: long enough for the test to act while
# the worker holds it, on a loaded 2-core host.
LEAD_S = 3.0


def _starts(directory: Path) -> list[float]:
    return [json.loads(p.read_text())["start"] for p in directory.glob("*.json")]


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
    release = tmp_path / "release"
    first = make_run(f"{JOBS}:wait_for_file", job_id="one", kwargs={"marker": str(release)})
    probe.publish(first)
    probe.wait_event(first.run_id, "job_started")
    at = datetime.now(UTC) + timedelta(seconds=LEAD_S)
    held = make_run(
        f"{JOBS}:record_instance",
        job_id="one",
        scheduled_at=at,
        kwargs={"directory": str(tmp_path), "seconds": 0},
    )
    probe.publish(held)
    wait_until(lambda: probe.depth() == 0, "the early run delivered to the worker", timeout=5)

    release.touch()
    engine = sa.create_engine(pg_schema_url)
    try:
        query = sa.text("SELECT status FROM dueq_claims WHERE run_id = :r")

        def first_finished() -> bool:
            with engine.connect() as conn:
                return conn.execute(query, {"r": first.run_id}).scalar() == "finished"

        wait_until(first_finished, "the first run's claim to be finished", timeout=LEAD_S)
    finally:
        engine.dispose()
    assert datetime.now(UTC) < at, "the first run ended too late to prove anything"

    probe.wait_event(held.run_id, "job_executed")
    assert probe.of_run(held.run_id, "job_max_instances") == []
    (start,) = _starts(tmp_path)
    assert start >= at.timestamp()
