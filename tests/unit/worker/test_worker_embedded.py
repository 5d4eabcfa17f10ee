"""The embedded mode: a worker thread on kombu's memory transport, with and without SQLite."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest

from dueq.shared.protocol import JobExecuted
from dueq.worker import Worker, WorkerSettings
from tests.jobs_for_tests.harness import JOBS, BrokerProbe, make_run
from tests.support.probe import printed_by


@pytest.fixture
def memory_probe(memory_broker_url: str) -> Iterator[BrokerProbe]:
    settings = WorkerSettings(broker_url=memory_broker_url, prefix="embedded")
    probe = BrokerProbe(memory_broker_url, settings.topology())
    yield probe
    probe.close()


@pytest.mark.parametrize("with_sqlite", [False, True], ids=["no-database", "sqlite"])
def test_a_worker_thread_on_the_memory_transport_runs_jobs_and_stops_cleanly(
    memory_probe: BrokerProbe, memory_broker_url: str, sqlite_url: str, with_sqlite: bool
) -> None:
    threads_before = set(threading.enumerate())
    worker = Worker(
        WorkerSettings(
            broker_url=memory_broker_url,
            prefix="embedded",
            imports=(JOBS,),
            database_url=sqlite_url if with_sqlite else None,
        )
    )
    worker.start()
    try:
        run, bad = make_run(f"{JOBS}:add", args=[2, 2]), make_run("os:system")
        memory_probe.publish(run, bad)
        executed = memory_probe.wait_event(run.run_id, "job_executed")
        memory_probe.wait_event(bad.run_id, "job_rejected")
        assert isinstance(executed, JobExecuted)
        assert executed.retval == 4
    finally:
        worker.stop()
    memory_probe.wait_for(lambda _: bool(memory_probe.of_type("worker_offline")), 5, "offline")
    assert not [t for t in set(threading.enumerate()) - threads_before if t.is_alive()]


def test_starting_without_any_allowed_job_is_a_config_error(memory_broker_url: str) -> None:
    from dueq.shared.errors import ConfigError

    worker = Worker(WorkerSettings(broker_url=memory_broker_url))
    with pytest.raises(ConfigError, match="--import"):
        worker.start()


def test_a_worker_without_a_database_says_its_limits_hold_per_process(
    memory_probe: BrokerProbe, memory_broker_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dueq.worker.worker")
    worker = Worker(
        WorkerSettings(broker_url=memory_broker_url, prefix="embedded", imports=(JOBS,))
    )
    worker.start()
    worker.stop()
    assert any("per worker process only" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("owns_process", [False, True])
def test_only_a_worker_owning_its_process_freezes_the_start_up_heap(
    memory_broker_url: str, owns_process: bool
) -> None:
    # In a process of its own: freezing is for the life of the process.
    probe = (
        "import gc\n"
        "from dueq.worker import Worker, WorkerSettings\n"
        f"settings = WorkerSettings(broker_url={memory_broker_url!r}, prefix='frozen', "
        f"imports=({JOBS!r},))\n"
        f"worker = Worker(settings, owns_process={owns_process})\n"
        "before = gc.get_freeze_count()\n"
        "worker.start()\n"
        "print(before, gc.get_freeze_count() > 0)\n"
        "worker.stop()\n"
    )
    assert printed_by(probe) == ["0", str(owns_process)]
