"""Fixtures for worker integration tests: a probe on the real broker and running workers."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from shared.topology import Topology
from tests.jobs_for_tests.harness import JOBS, BrokerProbe
from worker import Worker, WorkerSettings

WorkerFactory = Callable[..., Worker]


# tests/conftest.py's end-of-session sweep deletes every "dqt-" queue on the broker,
# including those of other pytest sessions running at the same time; this stem keeps our
# queues out of it (the probe deletes them after each test itself).
WORKER_TEST_STEM = "dqw-"


@pytest.fixture
def topology() -> Topology:
    """A topology with a prefix unique to this test (deleted by ``probe`` afterwards)."""
    return Topology(prefix=f"{WORKER_TEST_STEM}{uuid.uuid4().hex[:10]}")


@pytest.fixture
def probe(rabbitmq_url: str, topology: Topology) -> Iterator[BrokerProbe]:
    """Publishes runs and collects events/dead letters; deletes the topology after."""
    broker_probe = BrokerProbe(rabbitmq_url, topology)
    yield broker_probe
    broker_probe.close()


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
