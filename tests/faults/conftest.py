"""Fixtures of the fault-injection suite: a rig per test, and the figures it reports.

Every test gets its own broker prefix (``dqf-<hex>``: not the ``dqt-`` stem that the
session sweep of tests/conftest.py owns), its own PostgreSQL schema (``pg_schema_url``),
and a ``Rig`` holding its processes, proxies and taps.  When a test fails, the end of
each process's log is printed.  With ``FAULTS_RESULTS=path``, the figures every test
reports are written to that Markdown file at the end of the session.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from dueq.shared.broker import BrokerConnection
from dueq.shared.errors import BrokerUnavailable
from dueq.shared.topology import Topology
from tests.faults.fault_jobs import LEDGER_URL_ENV
from tests.faults.faults_ledger import Ledger
from tests.faults.faults_postgres import PostgresServer
from tests.faults.faults_procs import ProcessGroup, environment
from tests.faults.faults_rabbit import RabbitCluster, RabbitNode
from tests.faults.faults_results import Figures, write_results
from tests.faults.faults_rig import Rig

FAULT_PREFIX_STEM = "dqf-"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    """Remember each phase's report on the item, so fixtures can tell a failed test."""
    outcome: Any = yield
    report = outcome.get_result()
    setattr(item, f"faults_report_{report.when}", report)


@pytest.fixture(scope="session")
def fault_figures() -> Iterator[list[Figures]]:
    """Figures of every fault test of the session (written out if FAULTS_RESULTS is set)."""
    collected: list[Figures] = []
    yield collected
    target = os.environ.get("FAULTS_RESULTS")
    if target and collected:
        write_results(Path(target), collected)


@pytest.fixture
def figures(request: pytest.FixtureRequest, fault_figures: list[Figures]) -> Iterator[Figures]:
    """Where a test puts the numbers it checked; printed and collected at its end."""
    found = Figures(test=request.node.name)
    begin = time.monotonic()
    yield found
    found.seconds = time.monotonic() - begin
    print(found.describe())
    report: Any = getattr(request.node, "faults_report_call", None)
    if report is None:
        return  # the setup failed: nothing was checked
    found.outcome = "xfailed" if hasattr(report, "wasxfail") else report.outcome
    fault_figures.append(found)


@pytest.fixture
def fault_topology(rabbitmq_url: str) -> Iterator[Topology]:
    """A topology of this test's own, declared up front, deleted (with messages) after."""
    topology = Topology(prefix=f"{FAULT_PREFIX_STEM}{uuid.uuid4().hex[:10]}")
    with BrokerConnection(rabbitmq_url, name="faults-setup") as conn:
        conn.declare_topology(topology, ["default"])
    yield topology
    with BrokerConnection(rabbitmq_url, name="faults-teardown") as conn:
        conn.delete_topology(topology, ["default"])


@pytest.fixture
def rig(
    request: pytest.FixtureRequest,
    figures: Figures,  # first, so a test's time includes setting the rig up
    rabbitmq_url: str,
    pg_schema_url: str,
    fault_topology: Topology,
    tmp_path: Path,
) -> Iterator[Rig]:
    """The deployment under test; its processes' logs are shown if the test fails."""
    built = _build_rig(rabbitmq_url, pg_schema_url, fault_topology, tmp_path)
    yield built
    _close_rig(request, built)


def _build_rig(
    broker_url: str,
    database_url: str,
    topology: Topology,
    directory: Path,
    ledger_url: str | None = None,
) -> Rig:
    env = environment(**{LEDGER_URL_ENV: ledger_url or database_url})
    return Rig(
        broker_url=broker_url,
        database_url=database_url,
        topology=topology,
        ledger=Ledger(ledger_url or database_url, store_url=database_url),
        procs=ProcessGroup(directory, env),
        directory=directory,
    )


def _close_rig(request: pytest.FixtureRequest, built: Rig) -> None:
    report: Any = getattr(request.node, "faults_report_call", None)
    if report is not None and report.failed:
        print(built.procs.tails())
    built.close()


@pytest.fixture(scope="session")
def rabbit_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitNode]:
    """A private single RabbitMQ node that tests may kill, restart and alarm."""
    node = RabbitNode(tmp_path_factory.mktemp("rabbit-single"), f"dqf{uuid.uuid4().hex[:6]}")
    try:
        node.start()
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def rabbit_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitCluster]:
    """Three private RabbitMQ nodes in one cluster, started once per session."""
    cluster = RabbitCluster(tmp_path_factory.mktemp("rabbit-cluster"), f"dqc{uuid.uuid4().hex[:6]}")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


RigOn = Callable[..., Rig]


@pytest.fixture
def rig_on(
    request: pytest.FixtureRequest,
    figures: Figures,
    pg_schema_url: str,
    tmp_path: Path,
) -> Iterator[RigOn]:
    """Builds the test's rig on other servers: ``rig_on(broker_url, database_url)``.

    The executions ledger stays in the test's schema on the suite's PostgreSQL, whatever
    database dueq uses; the prefix's queues are deleted after (if the broker is up).
    """
    made: list[Rig] = []

    def build(broker_url: str, database_url: str = pg_schema_url) -> Rig:
        topology = Topology(prefix=f"{FAULT_PREFIX_STEM}{uuid.uuid4().hex[:10]}")
        with BrokerConnection(broker_url, name="faults-setup") as conn:
            conn.declare_topology(topology, ["default"])
        built = _build_rig(broker_url, database_url, topology, tmp_path, pg_schema_url)
        made.append(built)
        return built

    yield build
    for built in made:
        _close_rig(request, built)
        with (
            contextlib.suppress(BrokerUnavailable),
            BrokerConnection(built.broker_url, name="faults-teardown") as conn,
        ):
            conn.delete_topology(built.topology, ["default"])


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL server that tests may kill -9 and restart."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()
