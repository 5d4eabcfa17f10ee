"""Fixtures for the scheduler against the real RabbitMQ (and SQLite/PostgreSQL)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from dueq.producer import BackgroundScheduler
from dueq.producer.backend import Backend, open_backend
from dueq.producer.leader.dbclock import caller_time
from dueq.shared.broker import BrokerConnection
from dueq.shared.topology import Topology
from tests.integration.producer.producer_support import STORE_NOW

MakeScheduler = Callable[..., BackgroundScheduler]

# Not the shared "dqt-" stem: other test sessions sweep "dqt-" queues when they end, even
# while this session's tests still use them.  These tests delete their own queues.
PRODUCER_TEST_STEM = "dqp-"
JOB_QUEUES = ["default", "reports"]


@pytest.fixture
def topology(rabbitmq_url: str) -> Iterator[Topology]:
    """A prefix of this test's own; its exchanges and queues are deleted afterwards."""
    topo = Topology(prefix=f"{PRODUCER_TEST_STEM}{uuid.uuid4().hex[:10]}")
    yield topo
    with BrokerConnection(rabbitmq_url) as connection:
        connection.delete_topology(topo, JOB_QUEUES)


@pytest.fixture
def make_scheduler(rabbitmq_url: str, topology: Topology) -> Iterator[MakeScheduler]:
    """``make_scheduler(database_url, **options)``: a scheduler on this test's prefix.

    Every scheduler made is shut down afterwards, and no thread may be left running.
    """
    made: list[BackgroundScheduler] = []
    threads = set(threading.enumerate())

    def make(database_url: str, **options: Any) -> BackgroundScheduler:
        scheduler = BackgroundScheduler(
            broker_url=rabbitmq_url,
            database_url=database_url,
            prefix=topology.prefix,
            **options,
        )
        made.append(scheduler)
        return scheduler

    yield make
    for scheduler in made:
        scheduler.shutdown()
    leaked = [t for t in threading.enumerate() if t not in threads and t.name.startswith("dueq")]
    assert not leaked, f"threads left running: {leaked}"


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """The job store, lease and history of one backend, on a clock stopped at STORE_NOW."""
    if request.param == "memory":
        url = "memory://"
    else:
        url = request.getfixturevalue(
            "sqlite_url" if request.param == "sqlite" else "pg_schema_url"
        )
    opened = open_backend(url, clock=lambda: STORE_NOW, lease_clock=caller_time)
    yield opened
    opened.close()
