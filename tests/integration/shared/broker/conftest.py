"""Fixtures for the broker adapter against the real RabbitMQ.

Builds on ``rabbitmq_url`` and ``topology`` from tests/conftest.py; adds a connected
``BrokerConnection`` that also deletes the test's exchanges afterwards, a leak check, and
a way to have the broker force-close connections (as an operator or a node restart does).
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Callable, Iterator

import pytest

from dueq.shared.broker import BrokerConnection
from dueq.shared.topology import Topology
from tests.support.connections import topology_connection
from tests.support.draining import DrainUntil
from tests.support.draining import drain_until as drain_until_
from tests.support.leaks import no_new_threads_or_fds

ForceClose = Callable[[str], int]

# Generous: a passing test needs milliseconds; only a broken one waits this long.
_DRAIN_DEADLINE_S = 20.0


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """Fails the test if it leaves threads running or file descriptors (sockets) open."""
    with no_new_threads_or_fds():
        yield


@pytest.fixture
def amqp_conn(rabbitmq_url: str, topology: Topology, no_leaks: None) -> Iterator[BrokerConnection]:
    """A connection named after the test's prefix, with the test's topology declared."""
    with topology_connection(rabbitmq_url, topology, name=f"{topology.prefix}-main") as conn:
        yield conn


@pytest.fixture
def drain_until() -> DrainUntil:
    """``drain_until(conn, condition)``: drive ``conn`` until ``condition()`` holds."""
    return functools.partial(drain_until_, timeout=_DRAIN_DEADLINE_S, slice_s=0.1)


@pytest.fixture
def force_close() -> ForceClose:
    """``force_close(name_prefix)``: the broker closes every connection so named.

    Returns how many it closed.  Uses ``rabbitmqctl``, as an operator would.
    """

    def close(name_prefix: str) -> int:
        listing = _rabbitmqctl("list_connections", "pid", "client_properties")
        pids = [
            line.split("\t", 1)[0]
            for line in listing.splitlines()
            if f'{{"connection_name","{name_prefix}' in line
        ]
        for pid in pids:
            _rabbitmqctl("close_connection", pid, "dueq test: forced close")
        return len(pids)

    return close


@pytest.fixture
def list_queues() -> Callable[[], str]:
    """``list_queues()``: rabbitmqctl's ``name type arguments`` table of every queue."""
    return lambda: _rabbitmqctl("list_queues", "name", "type", "arguments")


def _rabbitmqctl(command: str, *args: str) -> str:
    executable = shutil.which("rabbitmqctl")
    if executable is None:
        pytest.fail("rabbitmqctl is needed to inspect and control the broker", pytrace=False)
    table = ["--quiet", "--no-table-headers"] if command.startswith("list_") else []
    done = subprocess.run(
        [executable, command, *args, *table],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout
