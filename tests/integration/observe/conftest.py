"""A scheduler and a worker on the real RabbitMQ and PostgreSQL, for what operators see.

Metrics and dashboard tests watch a real run: the scheduler publishes, the worker
executes and fails, the scheduler records.  Each test gets a prefix and a database schema
of its own; the queues are deleted afterwards.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from dueq.producer import BackgroundScheduler
from dueq.shared.broker import BrokerConnection
from dueq.shared.topology import Topology
from dueq.worker import Worker, WorkerSettings
from tests.jobs_for_tests.harness import JOBS
from tests.support.waiting import wait_until

# A stem of our own: other sessions sweep "dqt-" queues when they end.
OBSERVE_TEST_STEM = "dqo-"
# Long enough for a loaded 2-core machine to elect a leader and run a job.
DEADLINE_S = 30.0


@dataclass
class Stack:
    """A running scheduler and worker sharing one prefix and database."""

    scheduler: BackgroundScheduler
    worker: Worker
    topology: Topology
    database_url: str
    broker_url: str


StackFactory = Callable[..., Stack]


@pytest.fixture
def observe_topology(rabbitmq_url: str) -> Iterator[Topology]:
    """A prefix of this test's own; its exchanges and queues are deleted afterwards."""
    topo = Topology(prefix=f"{OBSERVE_TEST_STEM}{uuid.uuid4().hex[:10]}")
    yield topo
    with BrokerConnection(rabbitmq_url) as connection:
        connection.delete_topology(topo, ["default"])


@pytest.fixture
def start_stack(
    rabbitmq_url: str, pg_schema_url: str, observe_topology: Topology
) -> Iterator[StackFactory]:
    """``start_stack(scheduler_options, worker_options)``: both started, leader elected."""
    started: list[Stack] = []
    threads = set(threading.enumerate())

    def start(
        scheduler_options: dict[str, Any] | None = None,
        worker_options: dict[str, Any] | None = None,
    ) -> Stack:
        common: dict[str, Any] = {"broker_url": rabbitmq_url, "prefix": observe_topology.prefix}
        worker = Worker(
            WorkerSettings(**common, imports=(JOBS,), shutdown_timeout=10, **(worker_options or {}))
        )
        scheduler = BackgroundScheduler(
            **common, database_url=pg_schema_url, lease_seconds=5, **(scheduler_options or {})
        )
        stack = Stack(scheduler, worker, observe_topology, pg_schema_url, rabbitmq_url)
        started.append(stack)
        worker.start()
        scheduler.start()
        wait_until(lambda: scheduler.is_leader, "leadership", timeout=DEADLINE_S)
        return stack

    yield start
    for stack in started:
        stack.worker.stop()
        stack.scheduler.shutdown()
    leaked = [t for t in threading.enumerate() if t not in threads and t.name.startswith("dueq")]
    assert not leaked, f"threads left running: {leaked}"


@dataclass
class Site:
    """A dashboard served on loopback, and a scheduler client on the same store."""

    url: str
    client: BackgroundScheduler
    server: Any


SiteFactory = Callable[..., Site]


@pytest.fixture
def serve_dashboard(
    rabbitmq_url: str, pg_schema_url: str, observe_topology: Topology
) -> Iterator[SiteFactory]:
    """``serve_dashboard(host=..., token=..., database_url=...)``: started, stopped after."""
    from dueq.producer.dashboard.server import DashboardServer
    from dueq.producer.dashboard.views import Dashboard
    from dueq.producer.deadletters import DeadLetters

    made: list[Site] = []

    def serve(
        host: str = "127.0.0.1", token: str | None = None, database_url: str | None = None
    ) -> Site:
        client = BackgroundScheduler(
            broker_url=rabbitmq_url,
            database_url=database_url or pg_schema_url,
            prefix=observe_topology.prefix,
        )
        dead = DeadLetters(rabbitmq_url, observe_topology)
        server = DashboardServer(Dashboard(client, dead), host=host, port=0, token=token)
        server.start()
        site = Site(url=server.url, client=client, server=server)
        made.append(site)
        return site

    yield serve
    for site in made:
        site.server.stop()
        site.client.shutdown()
