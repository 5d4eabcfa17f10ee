"""Overlap policies with two workers sharing the database (fleet-wide, as max_instances).

Run ``A`` of a job (max_instances=1) holds its slot until the test creates a file; runs
``B`` and ``C`` of the same job arrive meanwhile, and their policy decides what happens.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from dueq.shared.protocol import JobError, Overlap, RunRequest
from tests.integration.worker.conftest import WorkerFactory
from tests.jobs_for_tests.harness import JOBS, BrokerProbe, make_run
from tests.support.waiting import wait_until

NOW = datetime.now(UTC)


def _runs(overlap: Overlap, release: Path, started: Path) -> tuple[RunRequest, ...]:
    """A (holds the slot until ``release`` exists) and B, C of the same job."""
    job_id = f"overlap-{overlap.value}-{release.parent.name}"[:255]
    hold = make_run(
        f"{JOBS}:wait_for_file", job_id=job_id, args=[str(release), str(started)],
        scheduled_at=NOW, overlap=overlap,
    )  # fmt: skip
    others = tuple(
        make_run(
            f"{JOBS}:add",
            job_id=job_id,
            args=[n, n],
            scheduled_at=NOW + timedelta(seconds=n),
            overlap=overlap,
        )
        for n in (1, 2)
    )
    return (hold, *others)


def _start_two(start_worker: WorkerFactory, url: str, executor: str = "thread") -> None:
    for _ in range(2):
        start_worker(database_url=url, concurrency=2, executor=executor)


def _hold_then(probe: BrokerProbe, tmp_path: Path, overlap: Overlap) -> tuple[RunRequest, ...]:
    release, started = tmp_path / "release", tmp_path / "started"
    runs = _runs(overlap, release, started)
    probe.publish(runs[0])
    wait_until(started.exists, "A to start", timeout=15)
    probe.publish(*runs[1:])
    return runs


def _started_at(probe: BrokerProbe, run_id: str) -> datetime:
    return probe.wait_start(run_id)


def test_skip_reports_the_overlapping_runs_max_instances(
    probe: BrokerProbe, start_worker: WorkerFactory, pg_schema_url: str, tmp_path: Path
) -> None:
    _start_two(start_worker, pg_schema_url)
    hold, b, c = _hold_then(probe, tmp_path, Overlap.SKIP)
    for run in (b, c):
        probe.wait_event(run.run_id, "job_max_instances")
    (tmp_path / "release").touch()
    probe.wait_event(hold.run_id, "job_executed")


def test_allow_all_runs_the_overlapping_runs_at_once(
    probe: BrokerProbe, start_worker: WorkerFactory, pg_schema_url: str, tmp_path: Path
) -> None:
    _start_two(start_worker, pg_schema_url)
    hold, b, c = _hold_then(probe, tmp_path, Overlap.ALLOW_ALL)
    for run in (b, c):
        probe.wait_event(run.run_id, "job_executed")
    assert not probe.of_run(hold.run_id, "job_executed")  # A is still running
    (tmp_path / "release").touch()
    probe.wait_event(hold.run_id, "job_executed")


def test_buffer_all_runs_each_overlapping_run_once_the_slot_frees(
    probe: BrokerProbe, start_worker: WorkerFactory, pg_schema_url: str, tmp_path: Path
) -> None:
    _start_two(start_worker, pg_schema_url)
    hold, b, c = _hold_then(probe, tmp_path, Overlap.BUFFER_ALL)
    wait_until(lambda: probe.depth() == 0, "B and C taken by the workers", timeout=15)
    (tmp_path / "release").touch()
    done = probe.wait_event(hold.run_id, "job_executed")
    for run in (b, c):
        probe.wait_event(run.run_id, "job_executed")
        assert _started_at(probe, run.run_id) >= done.emitted_at - timedelta(seconds=1)
    assert not probe.of_type("job_max_instances")


def test_buffer_one_keeps_one_overlapping_run_and_skips_the_rest(
    probe: BrokerProbe, start_worker: WorkerFactory, pg_schema_url: str, tmp_path: Path
) -> None:
    _start_two(start_worker, pg_schema_url)
    hold, b, c = _hold_then(probe, tmp_path, Overlap.BUFFER_ONE)
    probe.wait_for(lambda _: bool(probe.of_type("job_max_instances")), 15, "one run skipped")
    assert len(probe.of_type("job_max_instances")) == 1
    (tmp_path / "release").touch()
    probe.wait_event(hold.run_id, "job_executed")
    kept = next(r for r in (b, c) if not probe.of_run(r.run_id, "job_max_instances"))
    probe.wait_event(kept.run_id, "job_executed")


def test_cancel_other_cancels_the_running_async_instance_and_runs_the_new_one(
    probe: BrokerProbe, start_worker: WorkerFactory, pg_schema_url: str, tmp_path: Path
) -> None:
    start_worker(database_url=pg_schema_url, concurrency=2, executor="asyncio")
    job_id = f"cancel-{tmp_path.name}"[:255]
    cancelled = tmp_path / "cancelled"
    hold = make_run(
        f"{JOBS}:async_wait_for_file", job_id=job_id,
        args=[str(tmp_path / "never"), str(cancelled)], scheduled_at=NOW,
        overlap=Overlap.CANCEL_OTHER,
    )  # fmt: skip
    newer = make_run(
        f"{JOBS}:add", job_id=job_id, args=[2, 2], scheduled_at=NOW + timedelta(seconds=1),
        overlap=Overlap.CANCEL_OTHER,
    )  # fmt: skip
    probe.publish(hold)
    probe.wait_event(hold.run_id, "job_started")
    probe.publish(newer)

    error = probe.wait_event(hold.run_id, "job_error")
    assert isinstance(error, JobError)
    assert error.exception.type == "CancelledError"
    probe.wait_event(newer.run_id, "job_executed")
    wait_until(cancelled.exists, "the old instance to see its cancellation", timeout=10)
