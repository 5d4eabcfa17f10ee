"""Fixtures for worker end-to-end tests: real ``dueq worker`` processes."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shared.topology import Topology
from tests.jobs_for_tests.harness import JOBS, BrokerProbe

SpawnWorker = Callable[..., subprocess.Popen[bytes]]


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
def spawn_worker(rabbitmq_url: str, topology: Topology, tmp_path: Path) -> Iterator[SpawnWorker]:
    """Start ``dueq worker`` processes; any still running after the test are killed."""
    processes: list[subprocess.Popen[bytes]] = []

    def spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"worker-{len(processes)}.log").open("wb")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dueq",
                "--log-level",
                "DEBUG",
                "worker",
                "--broker-url",
                rabbitmq_url,
                "--prefix",
                topology.prefix,
                "--import",
                JOBS,
                "--worker-id",
                f"e2e-{len(processes)}",
                *args,
            ],
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        processes.append(process)
        return process

    yield spawn
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(10)
