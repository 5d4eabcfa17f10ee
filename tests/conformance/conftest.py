"""Fixtures of the conformance kit: the consumers under test and a running one per module.

Every conformance test runs once per consumer in ``CONSUMERS``: the pika example, the
Node.js example, and dueq's own worker. The Node one is skipped only when ``node`` is not
on PATH (the reason is printed); when node is there but the example's dependencies are
not, they are installed with scripts/install-node-worker.sh first.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dueq.shared.topology import Topology
from tests.conformance.conformance_consumers import CONSUMERS, QUEUE
from tests.conformance.conformance_kit import STARTUP_TIMEOUT, Bus, Harness, new_prefix
from tests.conformance.conformance_process import REPO, ConsumerProcess, ConsumerSpec


@pytest.fixture(scope="session")
def node_modules_installed() -> None:
    """Install the Node example's dependencies if node is here and they are missing."""
    if shutil.which("node") is None:
        pytest.skip("node not found on PATH: the Node.js consumer cannot run on this machine")
    if (REPO / "examples" / "node_worker" / "node_modules" / "amqplib").is_dir():
        return
    script = REPO / "scripts" / "install-node-worker.sh"
    done = subprocess.run(
        ["bash", str(script)], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module", params=CONSUMERS, ids=lambda spec: spec.name)
def consumer_spec(request: pytest.FixtureRequest) -> ConsumerSpec:
    """Each consumer in turn (module scope: one process serves a whole scenario module)."""
    spec: ConsumerSpec = request.param
    if spec.name == "node":
        request.getfixturevalue("node_modules_installed")
    return spec


@pytest.fixture
def start_consumer(
    rabbitmq_url: str, tmp_path: Path
) -> Iterator[Callable[[ConsumerSpec, Bus], ConsumerProcess]]:
    """Start consumers for one test; any still running at the end is stopped."""
    started: list[ConsumerProcess] = []

    def start(spec: ConsumerSpec, bus: Bus) -> ConsumerProcess:
        command = spec.command(url=rabbitmq_url, prefix=bus.topology.prefix, queue=bus.queue)
        log = tmp_path / f"{spec.name}-{len(started)}.log"
        process = ConsumerProcess(spec, command, log)
        started.append(process)
        return process

    yield start
    for process in started:
        process.kill()  # no-op for one that already stopped, but closes its log


@pytest.fixture
def bus(rabbitmq_url: str) -> Iterator[Bus]:
    """A kit bus on a fresh prefix, everything under it deleted afterwards."""
    kit_bus = Bus(rabbitmq_url, Topology(prefix=new_prefix()), QUEUE)
    yield kit_bus
    kit_bus.close()


@pytest.fixture(scope="module")
def harness(
    consumer_spec: ConsumerSpec, rabbitmq_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    """One consumer process for a module's scenarios, online before the first test."""
    kit_bus = Bus(rabbitmq_url, Topology(prefix=new_prefix()), QUEUE)
    command = consumer_spec.command(url=rabbitmq_url, prefix=kit_bus.topology.prefix, queue=QUEUE)
    log = tmp_path_factory.mktemp("consumer") / f"{consumer_spec.name}.log"
    process = ConsumerProcess(consumer_spec, command, log)
    try:
        online = kit_bus.wait_event("worker_online", consumer=process, timeout=STARTUP_TIMEOUT)
        yield Harness(bus=kit_bus, consumer=process, online=online)
    finally:
        process.terminate()
        kit_bus.close()
