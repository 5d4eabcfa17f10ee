"""Real worker processes: fleet-wide max_instances, kill -9 recovery, SIGTERM drain."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dueq.shared.db import create_engine
from dueq.shared.protocol import JobExecuted, JobStarted
from dueq.shared.tables import claims
from tests.e2e.worker.conftest import SpawnWorker
from tests.jobs_for_tests.harness import JOBS, BrokerProbe, make_run
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

# Short enough for a quick test, long enough that a busy machine renews in time.
LEASE_S = 2.0


def _wait_online(probe: BrokerProbe, processes: list[subprocess.Popen[bytes]]) -> None:
    pids = {p.pid for p in processes}
    probe.wait_for(
        lambda _: pids <= {e.pid for e in probe.of_type("worker_online")},
        60,
        f"worker_online from {len(pids)} processes",
    )


def _instances(directory: Path) -> list[tuple[float, float]]:
    records = [json.loads(p.read_text()) for p in directory.glob("*.json")]
    return sorted((r["start"], r["end"]) for r in records)


def _claim(database_url: str, run_id: str) -> dict[str, Any]:
    """The fleet's claim row of ``run_id`` (holder, lease)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.select(claims).where(claims.c.run_id == run_id)).one()
            return dict(row._mapping)
    finally:
        engine.dispose()


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    edges = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    depth = peak = 0
    for _, step in edges:  # an end sorts before a start at the same instant
        depth += step
        peak = max(peak, depth)
    return peak


def test_three_workers_sharing_a_database_never_exceed_max_instances(
    probe: BrokerProbe, spawn_worker: SpawnWorker, pg_schema_url: str, tmp_path: Path
) -> None:
    workers = [
        spawn_worker("--database-url", pg_schema_url, "--concurrency", "2") for _ in range(3)
    ]
    _wait_online(probe, workers)
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    start = datetime.now(UTC)
    runs = []
    for wave in range(5):  # runs keep arriving while earlier instances still sleep
        for n in range(3):
            # Distinct run ids, all due already: a run due later would be held until then.
            at = start - timedelta(seconds=wave * 10 + n)
            runs.append(
                make_run(
                    f"{JOBS}:record_instance",
                    job_id="single",
                    scheduled_at=at,
                    kwargs={"directory": str(one), "seconds": 0.4},
                )
            )
            runs.append(
                make_run(
                    f"{JOBS}:record_instance",
                    job_id="double",
                    scheduled_at=at,
                    kwargs={"directory": str(two), "seconds": 0.4},
                    max_instances=2,
                )
            )
        wave_runs = runs[-6:]
        probe.publish(*wave_runs)
        # The next wave arrives once this one is being handled, while its jobs still sleep.
        wave_ids = {r.run_id for r in wave_runs}

        def handled(_: object, ids: set[str] = wave_ids) -> bool:
            return any(getattr(e, "run_id", None) in ids for e in probe.events)

        probe.wait_for(handled, 30, f"wave {wave} being handled")

    outcomes = {"job_executed", "job_max_instances"}
    probe.wait_for(
        lambda _: all(any(e.event in outcomes for e in probe.of_run(r.run_id)) for r in runs),
        60,
        "an outcome for every run",
    )
    singles, doubles = _instances(one), _instances(two)
    assert _max_overlap(singles) == 1, singles
    assert _max_overlap(doubles) == 2, doubles  # reached, never exceeded
    executed = probe.of_type("job_executed")
    assert len(singles) + len(doubles) == len(executed)
    assert len({e.pid for e in probe.of_type("job_executed")}) >= 2  # the fleet shared the work
    assert probe.of_type("job_max_instances")  # the limit was really contended


def test_a_killed_workers_run_is_completed_by_another_and_its_slot_frees_when_the_lease_lapses(
    probe: BrokerProbe, spawn_worker: SpawnWorker, pg_schema_url: str, tmp_path: Path
) -> None:
    env = {"DUEQ_CLAIM_LEASE": str(LEASE_S)}
    workers = [spawn_worker("--database-url", pg_schema_url, env=env) for _ in range(2)]
    _wait_online(probe, workers)
    release = tmp_path / "release"
    run = make_run(f"{JOBS}:wait_for_file", job_id="victim", kwargs={"marker": str(release)})
    probe.publish(run)
    started = probe.wait_event(run.run_id, "job_started")
    assert isinstance(started, JobStarted)
    victim = next(w for w in workers if w.pid == started.pid)
    survivor = next(w for w in workers if w.pid != started.pid)

    held = _claim(pg_schema_url, run.run_id)  # the victim's lease as last seen alive
    os.kill(victim.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    probe.wait_for(lambda _: len(probe.starts(run.run_id)) == 2, 60, "takeover")
    took_over_after = time.monotonic() - killed_at
    taken = _claim(pg_schema_url, run.run_id)
    print(f"taken over {took_over_after:.2f} s after the kill (claim lease {LEASE_S:.0f} s)")
    release.touch()
    executed = probe.wait_event(run.run_id, "job_executed")

    assert isinstance(executed, JobExecuted)
    assert executed.pid == survivor.pid
    assert executed.redelivered is True
    # The slot freed when the lease lapsed, not before (the victim might have been alive);
    # how long after is the host's business (a figure, printed above).
    assert held["worker_id"] != taken["worker_id"]
    assert taken["claimed_at"] >= held["lease_expires_at"], "the claim was taken early"
    # A claim is marked finished just after its outcome is confirmed (handler.py: never done
    # but unreported), so a run sent the moment the outcome is seen may still find it live.
    wait_until(
        lambda: _claim(pg_schema_url, run.run_id)["status"] == "finished",
        "the survivor's claim to be finished",
        timeout=15,
    )
    follow_up = make_run(
        f"{JOBS}:add",
        job_id="victim",
        args=[1, 1],
        scheduled_at=run.scheduled_at - timedelta(minutes=1),  # due: not held
    )
    probe.publish(follow_up)
    assert probe.wait_event(follow_up.run_id, "job_executed").event == "job_executed"


def test_without_a_database_a_killed_workers_run_is_redelivered_and_reported_as_such(
    probe: BrokerProbe, spawn_worker: SpawnWorker, tmp_path: Path
) -> None:
    workers = [spawn_worker() for _ in range(2)]
    _wait_online(probe, workers)
    release = tmp_path / "release"
    run = make_run(f"{JOBS}:wait_for_file", kwargs={"marker": str(release)})
    probe.publish(run)
    started = probe.wait_event(run.run_id, "job_started")
    os.kill(started.pid, signal.SIGKILL)
    release.touch()

    executed = probe.wait_event(run.run_id, "job_executed", timeout=30)
    assert isinstance(executed, JobExecuted)
    assert executed.pid != started.pid
    assert executed.redelivered is True


def test_sigterm_lets_the_running_job_finish_hands_back_unstarted_runs_and_says_offline(
    probe: BrokerProbe, spawn_worker: SpawnWorker, tmp_path: Path
) -> None:
    (worker,) = [spawn_worker("--concurrency", "1", "--shutdown-timeout", "20")]
    _wait_online(probe, [worker])
    release = tmp_path / "release"
    running = make_run(f"{JOBS}:wait_for_file", kwargs={"marker": str(release)})
    waiting = make_run(f"{JOBS}:add", args=[1, 1])
    probe.publish(running, waiting)
    probe.wait_event(running.run_id, "job_started")

    worker.send_signal(signal.SIGTERM)
    wait_until(lambda: probe.depth() == 1, "the unstarted run back in its queue", timeout=20)
    assert worker.poll() is None  # still draining: its job has not finished
    release.touch()
    assert worker.wait(30) == 0

    probe.wait_for(lambda _: bool(probe.of_type("worker_offline")), 10, "worker_offline")
    assert probe.of_run(running.run_id, "job_executed")
    assert probe.of_run(waiting.run_id) == []
    offline = probe.of_type("worker_offline")[0]
    assert probe.events.index(offline) > probe.events.index(
        probe.of_run(running.run_id, "job_executed")[0]
    )
