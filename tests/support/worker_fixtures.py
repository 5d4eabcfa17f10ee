"""Fixtures shared by the worker tests, in-process (integration) and as processes (e2e).

Imported by tests/integration/worker/conftest.py and tests/e2e/worker/conftest.py; the
fixtures are named ``topology`` (overriding tests/conftest.py's) and ``probe``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from dueq.shared.topology import Topology
from tests.jobs_for_tests.harness import BrokerProbe

__all__ = ["WORKER_TEST_STEM", "worker_probe", "worker_topology"]

# tests/conftest.py's end-of-session sweep deletes every "dqt-" queue on the broker,
# including those of other pytest sessions running at the same time; this stem keeps our
# queues out of it (the probe deletes them after each test itself).
WORKER_TEST_STEM = "dqw-"


@pytest.fixture(name="topology")
def worker_topology() -> Topology:
    """A topology with a prefix unique to this test (deleted by ``probe`` afterwards)."""
    return Topology(prefix=f"{WORKER_TEST_STEM}{uuid.uuid4().hex[:10]}")


@pytest.fixture(name="probe")
def worker_probe(rabbitmq_url: str, topology: Topology) -> Iterator[BrokerProbe]:
    """Publishes runs and collects events/dead letters; deletes the topology after."""
    broker_probe = BrokerProbe(rabbitmq_url, topology)
    yield broker_probe
    broker_probe.close()
