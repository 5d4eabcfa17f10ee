"""Fixtures for worker integration tests: a probe on the real broker and running workers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from dueq.shared.topology import Topology
from dueq.worker import Worker, WorkerSettings
from tests.jobs_for_tests.harness import JOBS
from tests.support.worker_fixtures import worker_probe, worker_topology  # noqa: F401 (fixtures)

WorkerFactory = Callable[..., Worker]


@pytest.fixture
def start_worker(rabbitmq_url: str, topology: Topology) -> Iterator[WorkerFactory]:
    """Start in-process workers on the test's topology; all are stopped after the test."""
    started: list[Worker] = []
    threads_before = set(threading.enumerate())

    def start(**overrides: Any) -> Worker:
        options: dict[str, Any] = {
            "broker_url": rabbitmq_url,
            "prefix": topology.prefix,
            "imports": (JOBS,),
            "shutdown_timeout": 10,
        }
        options.update(overrides)
        worker = Worker(WorkerSettings(**options))
        worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()
    leaked = [
        t
        for t in set(threading.enumerate()) - threads_before
        if t.is_alive() and t.name.startswith("dueq")
    ]
    assert not leaked, f"worker threads left running: {leaked}"
