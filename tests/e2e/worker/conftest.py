"""Fixtures for worker end-to-end tests: real ``dueq worker`` processes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dueq.shared.topology import Topology
from tests.jobs_for_tests.harness import JOBS
from tests.support.worker_fixtures import worker_probe, worker_topology  # noqa: F401 (fixtures)

SpawnWorker = Callable[..., subprocess.Popen[bytes]]


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
